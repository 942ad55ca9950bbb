// kube-apiserver built from the published Kubernetes modules (k8s.io/kubernetes with its staging modules pinned
// to the matching v0.x releases, as go.mod's replace block does), for the rollout's kubernetes-target test:
// no prebuilt binary can be downloaded on this machine, and `go install k8s.io/kubernetes/cmd/kube-apiserver`
// fails on the replace directives of the kubernetes module itself.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
