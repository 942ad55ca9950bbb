//go:build tools

// Traefik v3.6.12, the Gateway API implementation of the embedded cluster's traffic layer, built from the Go module
// proxy (no release binary or image can be downloaded on this machine). This file only pins the command's package in
// go.mod/go.sum; the installer builds it static (CGO_ENABLED=0, it runs in an image with no libc) with
//
//	go build -ldflags "-X github.com/traefik/traefik/v3/pkg/version.Version=v3.6.12" \
//	  -o <dir>/traefik github.com/traefik/traefik/v3/cmd/traefik
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
