package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Controllers started by kube-controller-manager. No scheduler and no kubelet run, so
// node, volume and pod-GC controllers are left out.
var controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"cronjob-controller",
	"replicationcontroller-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"clusterrole-aggregation-controller",
	"endpoints-controller",
	"endpointslice-controller",
	"endpointslice-mirroring-controller",
	"resourcequota-controller",
	"disruption-controller",
	"ttl-after-finished-controller",
}

// State is written to DIR/state.json once the control plane is ready.
type State struct {
	PID        int     `json:"pid"`
	Server     string  `json:"server"`
	Kubeconfig string  `json:"kubeconfig"`
	CACert     string  `json:"ca_cert"`
	ClientCert string  `json:"client_cert"`
	ClientKey  string  `json:"client_key"`
	Etcd       string  `json:"etcd"`
	ReadySecs  float64 `json:"ready_seconds"`
	// NodeKubeconfig is set with --node: the kubelet's credentials (system:node:mcp-node).
	NodeKubeconfig string `json:"node_kubeconfig,omitempty"`
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...)
}

func b64file(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(data), nil
}

func writeKubeconfig(path, server, user, caFile, certFile, keyFile string, embedData bool) error {
	auth := fmt.Sprintf("    client-certificate: %s\n    client-key: %s\n", certFile, keyFile)
	cluster := fmt.Sprintf("    certificate-authority: %s\n", caFile)
	if embedData {
		ca, err := b64file(caFile)
		if err != nil {
			return err
		}
		cert, err := b64file(certFile)
		if err != nil {
			return err
		}
		key, err := b64file(keyFile)
		if err != nil {
			return err
		}
		auth = fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s\n", cert, key)
		cluster = fmt.Sprintf("    certificate-authority-data: %s\n", ca)
	}
	text := "apiVersion: v1\nkind: Config\n" +
		"clusters:\n- name: local\n  cluster:\n    server: " + server + "\n" + cluster +
		"users:\n- name: " + user + "\n  user:\n" + auth +
		"contexts:\n- name: local\n  context:\n    cluster: local\n    user: " + user + "\n" +
		"current-context: local\n"
	return os.WriteFile(path, []byte(text), 0o600)
}

// child is one Kubernetes component run as a child process of this binary.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func startChild(dir, role string, args []string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, role+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{role}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Stdin = nil
	// Own process group: a Ctrl-C reaches only this supervisor, which stops the
	// children in order. The child gets SIGKILL if this process dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	c := &child{name: role, cmd: cmd, done: make(chan error, 1)}
	go func() {
		c.done <- cmd.Wait()
		logFile.Close()
	}()
	logf("started %s (pid %d), log %s", role, cmd.Process.Pid, logPath)
	return c, nil
}

func (c *child) stop(timeout time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(timeout):
		logf("%s did not stop within %s, killing it", c.name, timeout)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func httpClient(p *pki) (*http.Client, error) {
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		},
	}, nil
}

func get(c *http.Client, u string) (int, string) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body)
}

func up(args []string) int {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", "", "run directory (PKI, etcd data, logs, kubeconfigs); wiped at start")
	readyTimeout := fs.Duration("ready-timeout", 180*time.Second, "how long to wait for readiness")
	verbosity := fs.Int("v", 0, "log verbosity of the Kubernetes components")
	exitWithParent := fs.Bool("exit-with-parent", false, "stop when the parent process exits (for test fixtures)")
	node := fs.Bool("node", false, "also run kube-scheduler and prepare for a local node ("+NodeName+"): its kubeconfig, the API server's kubelet client certificate, the node-lifecycle controller")
	_ = fs.Parse(args)
	if *dir == "" {
		logf("--dir is required")
		return 2
	}
	start := time.Now()
	parent := os.Getppid()
	runDir, err := filepath.Abs(*dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if err := prepareDir(runDir); err != nil {
		logf("%v", err)
		return 1
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()

	serviceIP := net.IPv4(10, 96, 0, 1)
	p, err := generatePKI(runDir, serviceIP)
	if err != nil {
		logf("pki: %v", err)
		return 1
	}

	// etcd, in this process.
	etcdClientPort, err1 := freePort()
	etcdPeerPort, err2 := freePort()
	apiPort, err3 := freePort()
	if err := errors.Join(err1, err2, err3); err != nil {
		logf("ports: %v", err)
		return 1
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort)
	cfg := embed.NewConfig()
	cfg.Name = "controlplane"
	cfg.Dir = filepath.Join(runDir, "etcd")
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(runDir, "etcd.log")}
	clientURL, _ := url.Parse(etcdURL)
	peerURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort))
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true // throwaway test data: trade durability for speed
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		logf("etcd: %v", err)
		return 1
	}
	defer etcd.Close()
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		logf("etcd did not become ready in 60s")
		return 1
	case <-ctx.Done():
		return 1
	}
	logf("etcd ready at %s", etcdURL)

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	adminKubeconfig := filepath.Join(runDir, "admin.kubeconfig")
	kcmKubeconfig := filepath.Join(runDir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(adminKubeconfig, server, "admin", p.CACert, p.AdminCert, p.AdminKey, true); err != nil {
		logf("kubeconfig: %v", err)
		return 1
	}
	if err := writeKubeconfig(kcmKubeconfig, server, "controller-manager", p.CACert, p.KCMCert, p.KCMKey, false); err != nil {
		logf("kubeconfig: %v", err)
		return 1
	}

	nodeKubeconfig := ""
	if *node {
		nodeKubeconfig = filepath.Join(runDir, "node.kubeconfig")
		if err := writeKubeconfig(nodeKubeconfig, server, "node", p.CACert, p.NodeCert, p.NodeKey, true); err != nil {
			logf("kubeconfig: %v", err)
			return 1
		}
	}

	v := "--v=" + strconv.Itoa(*verbosity)
	apiArgs := []string{
		"--advertise-address=127.0.0.1",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--etcd-servers=" + etcdURL,
		"--cert-dir=" + filepath.Join(runDir, "apiserver-certs"),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--client-ca-file=" + p.CACert,
		"--service-account-key-file=" + p.SAPub,
		"--service-account-signing-key-file=" + p.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--allow-privileged=true",
		// The advertise address is loopback, which Endpoints may not hold: do not
		// reconcile the kubernetes Service endpoints (nothing here routes to them).
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		v,
	}
	enabled := controllers
	if *node {
		apiArgs = append(apiArgs,
			"--kubelet-client-certificate="+p.KubeletClientCert,
			"--kubelet-client-key="+p.KubeletClientKey,
			"--kubelet-preferred-address-types=InternalIP")
		// Marks the node Ready in its taints once the kubelet reports it; evicts nothing here.
		enabled = append(append([]string{}, controllers...), "node-lifecycle-controller", "pod-garbage-collector-controller")
	}
	kcmArgs := []string{
		"--kubeconfig=" + kcmKubeconfig,
		"--controllers=" + strings.Join(enabled, ","),
		"--service-account-private-key-file=" + p.SAKey,
		"--root-ca-file=" + p.CACert,
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--profiling=false",
		v,
	}
	api, err := startChild(runDir, "kube-apiserver", apiArgs)
	if err != nil {
		logf("kube-apiserver: %v", err)
		return 1
	}
	defer api.stop(20 * time.Second)
	kcm, err := startChild(runDir, "kube-controller-manager", kcmArgs)
	if err != nil {
		logf("kube-controller-manager: %v", err)
		return 1
	}
	defer kcm.stop(20 * time.Second) // deferred calls run in reverse: KCM stops first
	children := []*child{api, kcm}
	if *node {
		sched, err := startChild(runDir, "kube-scheduler", []string{
			"--kubeconfig=" + adminKubeconfig,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=0",
			"--profiling=false",
			v,
		})
		if err != nil {
			logf("kube-scheduler: %v", err)
			return 1
		}
		defer sched.stop(20 * time.Second)
		children = append(children, sched)
	}

	childExited := func() (string, bool) {
		for _, c := range children {
			select {
			case err := <-c.done:
				c.done <- err // keep it readable for stop()
				return fmt.Sprintf("%s exited (%v); last log lines:\n%s", c.name, err,
					tail(filepath.Join(runDir, c.name+".log"), 30)), true
			default:
			}
		}
		return "", false
	}

	// Ready: /readyz answers ok and the service-account controller has created the
	// "default" ServiceAccount (so the controller manager is working).
	client, err := httpClient(p)
	if err != nil {
		logf("client: %v", err)
		return 1
	}
	deadline := time.Now().Add(*readyTimeout)
	ready := false
	last := ""
	for time.Now().Before(deadline) {
		if msg, exited := childExited(); exited {
			logf("%s", msg)
			return 1
		}
		if code, body := get(client, server+"/readyz"); code != http.StatusOK {
			last = fmt.Sprintf("/readyz: %d %s", code, body)
		} else if code, body := get(client, server+"/api/v1/namespaces/default/serviceaccounts/default"); code != http.StatusOK {
			last = fmt.Sprintf("default ServiceAccount: %d %.200s", code, body)
		} else {
			ready = true
			break
		}
		select {
		case <-ctx.Done():
			logf("interrupted before ready")
			return 1
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !ready {
		logf("not ready after %s; last check: %s", *readyTimeout, last)
		return 1
	}
	elapsed := time.Since(start).Seconds()
	state := State{
		PID: os.Getpid(), Server: server, Kubeconfig: adminKubeconfig,
		CACert: p.CACert, ClientCert: p.AdminCert, ClientKey: p.AdminKey,
		Etcd: etcdURL, ReadySecs: elapsed, NodeKubeconfig: nodeKubeconfig,
	}
	data, _ := json.MarshalIndent(state, "", "  ")
	statePath := filepath.Join(runDir, "state.json")
	if err := os.WriteFile(statePath+".tmp", data, 0o644); err == nil {
		_ = os.Rename(statePath+".tmp", statePath)
	}
	defer os.Remove(statePath)
	fmt.Printf("control plane ready in %.1fs\nserver: %s\nkubeconfig: %s\n", elapsed, server, adminKubeconfig)
	fmt.Printf("export KUBECONFIG=%s\n", adminKubeconfig)

	// Run until a signal, or until a component dies.
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			logf("stopping")
			return 0
		case <-ticker.C:
			if *exitWithParent && os.Getppid() != parent {
				logf("parent process %d exited, stopping", parent)
				return 0
			}
			if msg, exited := childExited(); exited {
				logf("%s", msg)
				return 1
			}
		}
	}
}

// prepareDir empties the run directory (after checking that no live control plane
// owns it) so that every start is from a clean etcd.
func prepareDir(dir string) error {
	if data, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
		var s State
		if json.Unmarshal(data, &s) == nil && s.PID > 0 && syscall.Kill(s.PID, 0) == nil {
			return fmt.Errorf("a control plane (pid %d) is already running in %s", s.PID, dir)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}
