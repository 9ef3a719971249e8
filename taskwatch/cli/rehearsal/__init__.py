"""``taskwatch rehearse``'s parts: the driver (the daemon against the emulator) and virtual time."""
