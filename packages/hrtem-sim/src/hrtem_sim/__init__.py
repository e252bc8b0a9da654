"""hrtem-sim: structures, abTEM exit waves, image formation and labels for HR-TEM."""
