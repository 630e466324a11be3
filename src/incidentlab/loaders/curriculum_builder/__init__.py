"""curriculum-builder loaders: one per artifact of a `runs/<run_id>/` folder, plus console logs."""
