package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the file paths of everything the control plane needs.
type pki struct {
	CACert, CAKey           string
	ServingCert, ServingKey string
	AdminCert, AdminKey     string
	KCMCert, KCMKey         string
	SAKey, SAPub            string
	// For a local node (up --node): the kubelet's client identity, and the API server's
	// identity towards kubelets (logs, exec, port-forward).
	NodeCert, NodeKey                   string
	KubeletClientCert, KubeletClientKey string
}

// NodeName is the name of the local node that `up --node` prepares for.
const NodeName = "mcp-node"

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func issue(tmpl *x509.Certificate, parent *keyPair, certPath, keyPath string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func clientCert(cn string, orgs ...string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// generatePKI writes a fresh CA, the API server's serving certificate, client
// certificates for the admin and the controller manager, and the service-account
// signing key pair into dir/pki.
func generatePKI(dir string, serviceIP net.IP) (*pki, error) {
	d := filepath.Join(dir, "pki")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	p := &pki{
		CACert: filepath.Join(d, "ca.crt"), CAKey: filepath.Join(d, "ca.key"),
		ServingCert: filepath.Join(d, "apiserver.crt"), ServingKey: filepath.Join(d, "apiserver.key"),
		AdminCert: filepath.Join(d, "admin.crt"), AdminKey: filepath.Join(d, "admin.key"),
		KCMCert: filepath.Join(d, "controller-manager.crt"), KCMKey: filepath.Join(d, "controller-manager.key"),
		SAKey: filepath.Join(d, "sa.key"), SAPub: filepath.Join(d, "sa.pub"),
		NodeCert: filepath.Join(d, "node.crt"), NodeKey: filepath.Join(d, "node.key"),
		KubeletClientCert: filepath.Join(d, "apiserver-kubelet-client.crt"),
		KubeletClientKey:  filepath.Join(d, "apiserver-kubelet-client.key"),
	}
	ca, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "mcp-operator-test-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, p.CACert, p.CAKey)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	if _, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP},
	}, ca, p.ServingCert, p.ServingKey); err != nil {
		return nil, fmt.Errorf("serving cert: %w", err)
	}
	if _, err := issue(clientCert("kubernetes-admin", "system:masters"), ca, p.AdminCert, p.AdminKey); err != nil {
		return nil, fmt.Errorf("admin cert: %w", err)
	}
	if _, err := issue(clientCert("system:kube-controller-manager"), ca, p.KCMCert, p.KCMKey); err != nil {
		return nil, fmt.Errorf("controller-manager cert: %w", err)
	}
	if _, err := issue(clientCert("system:node:"+NodeName, "system:nodes"), ca, p.NodeCert, p.NodeKey); err != nil {
		return nil, fmt.Errorf("node cert: %w", err)
	}
	if _, err := issue(clientCert("kube-apiserver-kubelet-client", "system:masters"), ca, p.KubeletClientCert, p.KubeletClientKey); err != nil {
		return nil, fmt.Errorf("kubelet client cert: %w", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := writeKey(p.SAKey, saKey); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	if err := writePEM(p.SAPub, "PUBLIC KEY", pub, 0o644); err != nil {
		return nil, err
	}
	return p, nil
}
