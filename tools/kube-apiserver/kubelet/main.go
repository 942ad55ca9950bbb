// kubelet built from the same pinned modules as kube-apiserver (this module's go.mod), for the embedded cluster's
// real node: it runs pods through containerd (CRI), in the node's own network and mount namespaces.
// The imports mirror upstream's cmd/kubelet main.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // the JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand()))
}
