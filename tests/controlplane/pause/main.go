// Command pause is the local node's sandbox ("pause") image process: it holds a pod's
// namespaces and does nothing until it is told to stop. registry.k8s.io/pause cannot be
// pulled here, so tests/node builds this one into an image of its own.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// As PID 1 of its namespace it also reaps orphans.
		for {
			var status syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &status, 0, nil); err != nil {
				return
			}
		}
	}()
	<-stop
}
