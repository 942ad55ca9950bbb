// kube-controller-manager built from the same pinned modules as kube-apiserver (this module's go.mod), for the
// embedded cluster: without its controllers a Deployment never gets pods and a deleted Namespace stays Terminating.
// The imports mirror upstream's cmd/kube-controller-manager main.
package main

import (
	"os"
	_ "time/tzdata" // for CronJob time zones

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // the JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
