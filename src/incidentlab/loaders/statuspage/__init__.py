"""Status-page incidents (Atlassian Statuspage JSON): what a provider said about its outages."""
