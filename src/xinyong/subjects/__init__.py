"""Credit subjects: citizens, key occupational groups, adult students."""
