"""File formats that leave or enter the tool (annotation tables); one codec per format."""
