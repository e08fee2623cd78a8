// Command knative-statserver runs Knative's own autoscaler stat server (pkg/autoscaler/statserver,
// gorilla/websocket) on -addr and prints every StatMessage it decodes as one JSON line on stdout,
// so loadtest/compat/knative-statserver.ts can check what Sluice's activator pushes to it.
// Knative's server logs (zap, JSON, debug level) go to stderr: "Connection upgraded to WebSocket"
// marks each accepted connection.
//
// Built inside a checkout of knative/serving (it imports the module's internal packages):
//
//	git -C MIRROR archive HEAD cmd pkg vendor go.mod go.sum | tar -x -C $tmp
//	cp main.go $tmp/cmd/sluice-statserver/ && cd $tmp && GOFLAGS=-mod=vendor go build ./cmd/sluice-statserver
//
// SIGTERM runs the server's Shutdown (it sends each client close 1012 "Restarting", as an
// autoscaler rollout does), then exits 0.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"knative.dev/serving/pkg/autoscaler/metrics"
	"knative.dev/serving/pkg/autoscaler/statserver"
)

type statLine struct {
	Key                              string  `json:"key"`
	PodName                          string  `json:"podName"`
	AverageConcurrentRequests        float64 `json:"averageConcurrentRequests"`
	AverageProxiedConcurrentRequests float64 `json:"averageProxiedConcurrentRequests"`
	RequestCount                     float64 `json:"requestCount"`
	ProxiedRequestCount              float64 `json:"proxiedRequestCount"`
	ProcessUptime                    float64 `json:"processUptime"`
	Timestamp                        int64   `json:"timestamp"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()

	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zapcore.DebugLevel)
	cfg.OutputPaths = []string{"stderr"}
	cfg.Sampling = nil
	base, err := cfg.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	logger := base.Sugar()

	statsCh := make(chan metrics.StatMessage, 1024)
	server := statserver.New(*addr, statsCh, logger, nil)

	go func() {
		enc := json.NewEncoder(os.Stdout)
		for sm := range statsCh {
			_ = enc.Encode(statLine{
				Key:                              sm.Key.String(),
				PodName:                          sm.Stat.PodName,
				AverageConcurrentRequests:        sm.Stat.AverageConcurrentRequests,
				AverageProxiedConcurrentRequests: sm.Stat.AverageProxiedConcurrentRequests,
				RequestCount:                     sm.Stat.RequestCount,
				ProxiedRequestCount:              sm.Stat.ProxiedRequestCount,
				ProcessUptime:                    sm.Stat.ProcessUptime,
				Timestamp:                        sm.Stat.Timestamp,
			})
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- server.ListenAndServe() }()
	select {
	case err := <-done:
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	case <-sig:
		server.Shutdown(5 * time.Second)
		os.Exit(0)
	}
}
