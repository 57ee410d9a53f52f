"""Many runs at once: sweeps (local or Ray) and the benchmark."""
