// The Pulumi kubernetes resource provider, built from the Go module proxy (no release binary can be downloaded on
// this machine). The proxy serves only a pseudo-version of provider/v4, and upstream's own main embeds two files that
// its `go generate` writes and the module does not carry (schema-embed.json, terraform-mapping-embed.json). This main
// embeds the same two files, which the installer writes beside it from the module's schema.json (with the version
// set) and terraform-mapping.json before it builds.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
