// Command gen resolves every kubeconfig in ../corpus with client-go's clientcmd, as a Go
// controller given that file does (clientcmd.BuildConfigFromFlags("", path), then
// rest.LoadTLSFiles for the file-referenced certificates), and writes ../kubeconfig-golden.json:
// per file the rest.Config fields Sluice's kube-config.ts reproduces, or client-go's error.
// test/kube/kube-config-golden.test.ts resolves the same files and compares.
//
// It builds against the client-go that Knative serving vendors (no network): copy this file into
// a tree made from the knative+serving mirror and build it there.
//
// Regenerate (from the repository root; Go 1.25):
//
//	tmp=$(mktemp -d) && git -C /work/.mirror/knative+serving/repo archive HEAD go.mod go.sum vendor | tar -x -C $tmp \
//	  && mkdir $tmp/hack-sluice && cp test/kube/golden/gen/main.go $tmp/hack-sluice/ \
//	  && (cd $tmp && PATH=/usr/lib/go-1.25/bin:$PATH GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOCACHE=/tmp/go-cache go build -o gen ./hack-sluice) \
//	  && $tmp/gen test/kube/golden/corpus test/kube/golden/kubeconfig-golden.json \
//	  && rm -rf $tmp
package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Exec is rest.Config.ExecProvider, the fields Sluice runs the plugin with.
type Exec struct {
	Command            string   `json:"command"`
	Args               []string `json:"args"`
	Env                []EnvVar `json:"env"`
	APIVersion         string   `json:"apiVersion"`
	InteractiveMode    string   `json:"interactiveMode"`
	ProvideClusterInfo bool     `json:"provideClusterInfo"`
}

type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Entry is one kubeconfig's resolution. Paths under the corpus directory are written as
// "<corpus>/..." so the golden file does not depend on where the repository is checked out.
type Entry struct {
	File            string `json:"file"`
	Host            string `json:"host,omitempty"`
	BearerToken     string `json:"bearerToken,omitempty"`
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
	Username        string `json:"username,omitempty"`
	Password        string `json:"password,omitempty"`
	CAData          string `json:"caData,omitempty"`
	CertData        string `json:"certData,omitempty"`
	KeyData         string `json:"keyData,omitempty"`
	Insecure        bool   `json:"insecure,omitempty"`
	ServerName      string `json:"serverName,omitempty"`
	Exec            *Exec  `json:"exec,omitempty"`
	Err             string `json:"err,omitempty"`
}

func main() {
	if len(os.Args) != 3 {
		panic("usage: gen <corpus dir> <out.json>")
	}
	corpus, err := filepath.Abs(os.Args[1])
	if err != nil {
		panic(err)
	}
	names, err := filepath.Glob(filepath.Join(corpus, "*.yaml"))
	if err != nil {
		panic(err)
	}
	// A kubeconfig that does not exist: the error for a wrong KUBECONFIG.
	names = append(names, filepath.Join(corpus, "absent.yaml"))
	sort.Strings(names)
	anon := func(s string) string { return strings.ReplaceAll(s, corpus, "<corpus>") }
	out := make([]Entry, 0, len(names))
	for _, path := range names {
		e := Entry{File: filepath.Base(path)}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err == nil {
			err = rest.LoadTLSFiles(cfg)
		}
		if err != nil {
			e.Err = anon(err.Error())
			out = append(out, e)
			continue
		}
		e.Host = cfg.Host
		e.BearerToken = cfg.BearerToken
		e.BearerTokenFile = anon(cfg.BearerTokenFile)
		e.Username = cfg.Username
		e.Password = cfg.Password
		e.CAData = string(cfg.CAData)
		e.CertData = string(cfg.CertData)
		e.KeyData = string(cfg.KeyData)
		e.Insecure = cfg.Insecure
		e.ServerName = cfg.ServerName
		if p := cfg.ExecProvider; p != nil {
			x := &Exec{Command: anon(p.Command), Args: p.Args, APIVersion: p.APIVersion, InteractiveMode: string(p.InteractiveMode), ProvideClusterInfo: p.ProvideClusterInfo}
			if x.Args == nil {
				x.Args = []string{}
			}
			x.Env = []EnvVar{}
			for _, v := range p.Env {
				x.Env = append(x.Env, EnvVar{Name: v.Name, Value: v.Value})
			}
			e.Exec = x
		}
		out = append(out, e)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], append(b, '\n'), 0o644); err != nil {
		panic(err)
	}
}
