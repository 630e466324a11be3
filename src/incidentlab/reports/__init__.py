"""Reports: parameterized notebooks executed with papermill and rendered to offline HTML."""
