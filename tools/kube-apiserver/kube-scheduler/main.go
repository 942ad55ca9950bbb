// kube-scheduler built from the same pinned modules as kube-apiserver (this module's go.mod), for the embedded
// cluster: it binds pods to the simulated nodes, honouring zone spread and affinity as a real cluster would.
// The imports mirror upstream's cmd/kube-scheduler main.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // the JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand()))
}
