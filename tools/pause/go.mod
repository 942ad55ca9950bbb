module imctl.local/tools/pause

go 1.23
