"""The model: the teacher-student CNN's landscape, its kernels and its diagnostics."""
