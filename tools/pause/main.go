// pause: the process that holds a pod sandbox's namespaces on the embedded cluster's real node (the role of
// registry.k8s.io/pause, which cannot be pulled here). It sleeps until SIGINT or SIGTERM and, as PID 1 of a pod
// that shares its PID namespace, reaps orphaned children. Built static (CGO_ENABLED=0) so its image needs no libc.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 8)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
