// Package http holds copies of Knative's request-log types (knative.dev/serving/pkg/http
// request_log.go and trace.go), so that %T and error messages name them as Knative's do
// (*http.RequestLogResponse). Standard library only: the generator needs no network.
package http

import (
	nethttp "net/http"
	"strings"
)

// RequestLogRevision as knative.dev/serving/pkg/http.
type RequestLogRevision struct {
	Name          string
	Namespace     string
	Service       string
	Configuration string
	PodName       string
	PodIP         string
}

// RequestLogResponse as knative.dev/serving/pkg/http.
type RequestLogResponse struct {
	Code    int
	Size    int
	Latency float64
}

// RequestLogTemplateInput as knative.dev/serving/pkg/http.
type RequestLogTemplateInput struct {
	Request  *nethttp.Request
	Response *RequestLogResponse
	Revision *RequestLogRevision
	TraceID  string
}

// ExtractTraceID as knative.dev/serving/pkg/http trace.go.
func ExtractTraceID(h nethttp.Header) string {
	if traceparent := h.Get("Traceparent"); traceparent != "" {
		parts := strings.SplitN(traceparent, "-", 3)
		if len(parts) >= 2 {
			return parts[1]
		}
	}
	if b3TraceID := h.Get("X-B3-Traceid"); b3TraceID != "" {
		return b3TraceID
	}
	return ""
}
