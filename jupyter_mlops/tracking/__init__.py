"""The run record and the store it lives in; every other part of jupyter_mlops is a door onto this."""
