"""The status page's content: a snapshot read from storage and its Statuspage v2 shapes."""
