"""Local stand-ins for outside services, speaking their real wire protocols over HTTP."""
