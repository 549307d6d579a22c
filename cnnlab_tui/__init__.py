"""cnnlab's Textual dashboard. Imports the engine; the engine never imports it."""
