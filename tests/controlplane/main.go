// Command controlplane runs a local Kubernetes control plane for tests: embedded etcd,
// kube-apiserver and kube-controller-manager, built from the upstream Go modules.
//
// One binary, several roles:
//
//	controlplane up --dir DIR        generate PKI, start etcd in-process and the two
//	                                 Kubernetes components as child processes, write
//	                                 DIR/admin.kubeconfig and DIR/state.json, run until
//	                                 SIGINT/SIGTERM, then stop everything.
//	controlplane kube-apiserver ...  the upstream kube-apiserver command
//	controlplane kube-controller-manager ...  the upstream kube-controller-manager command
//
// Everything listens on 127.0.0.1 only, on free ports.
package main

import (
	"context"
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: controlplane up --dir DIR | kube-apiserver ARGS | kube-controller-manager ARGS")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	role, args := os.Args[1], os.Args[2:]
	switch role {
	case "up":
		os.Exit(up(args))
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-proxy":
		cmd := proxy.NewProxyCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kubelet":
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	default:
		usage()
	}
}
