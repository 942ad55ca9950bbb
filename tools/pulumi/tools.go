//go:build tools

// The Pulumi CLI v3.248.0 built from the Go module proxy (no release binary can be downloaded on this machine).
// This file only pins the command's package in go.mod/go.sum; the binary is built with
//
//	go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.248.0" \
//	  -o <dir>/pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
//
// The version stamp matters: the Automation API refuses a CLI that reports no version.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
