"""Person detectors behind one small interface, and the tracker that keeps each person's identity across windows."""
