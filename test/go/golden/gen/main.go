// Command gen renders the request-log template corpus (../corpus.txt) with Go's text/template
// over the fixed request, response and revision below, as Knative's request log does
// (knative.dev/serving/pkg/http RequestLogHandler: template.New("requestLog").Parse, a newline
// appended when the template lacks one, Execute into a buffer), and writes ../golden.json: for
// each template its output or Go's error. test/go/go-template-golden.test.ts builds the same
// values in TypeScript and compares byte for byte.
//
// Regenerate (Go 1.25, standard library only, no network):
//
//	cd test/go/golden/gen && GOCACHE=/tmp/go-cache GOPATH=/tmp/go-path GOTOOLCHAIN=local GOFLAGS=-mod=mod /usr/lib/go-1.25/bin/go run .
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"os"
	"strings"
	"text/template"
	"unicode/utf8"

	knhttp "sluice.local/golden/knhttp"
)

// Wire is the request as the client sends it; Go's server reads it with the same code as
// http.ReadRequest (server.go readRequest), then sets RemoteAddr.
const Wire = "POST /api/v1/items%2Fx?q=1&b=%20two&a=3&a=4 HTTP/1.1\r\n" +
	"Host: example.com:8080\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: text/html\r\n" +
	"accept: application/json\r\n" +
	"Content-Length: 11\r\n" +
	"Referer: https://ref.example/page?x=<y>&z='\"\r\n" +
	"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
	"X-B3-Traceid: b3b3b3\r\n" +
	"X-Empty: \r\n" +
	"x-custom-header: caf\xc3\xa9 <&>\r\n" +
	"\r\n" +
	"hello world"

// RemoteAddr of the client.
const RemoteAddr = "10.1.2.3:54321"

type entry struct {
	Template string `json:"t"`
	Out      string `json:"out,omitempty"`
	OutB64   string `json:"outB64,omitempty"`
	Err      string `json:"err,omitempty"`
	Empty    bool   `json:"empty,omitempty"`
}

func main() {
	raw, err := os.ReadFile("../corpus.txt")
	if err != nil {
		panic(err)
	}
	templates := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n%%\n")
	out := make([]entry, 0, len(templates))
	for _, text := range templates {
		out = append(out, render(text))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	if err := os.WriteFile("../golden.json", buf.Bytes(), 0o644); err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stderr, "%d templates\n", len(out))
}

func input() *knhttp.RequestLogTemplateInput {
	req, err := nethttp.ReadRequest(bufio.NewReader(strings.NewReader(Wire)))
	if err != nil {
		panic(err)
	}
	req.RemoteAddr = RemoteAddr
	return &knhttp.RequestLogTemplateInput{
		Request:  req,
		Response: &knhttp.RequestLogResponse{Code: 201, Size: 1234, Latency: 0.001234567},
		Revision: &knhttp.RequestLogRevision{
			Name:          "hello-00001",
			Namespace:     "default",
			Service:       "hello",
			Configuration: "hello",
			PodName:       "hello-00001-deployment-7d9f-x2x",
			PodIP:         "10.0.0.9",
		},
		TraceID: knhttp.ExtractTraceID(req.Header),
	}
}

// render does what Knative's SetTemplate and write do.
func render(text string) entry {
	e := entry{Template: text}
	src := text
	if !strings.HasSuffix(src, "\n") {
		src += "\n"
	}
	t, err := template.New("requestLog").Parse(src)
	if err != nil {
		e.Err = err.Error()
		return e
	}
	var w bytes.Buffer
	if err := t.Execute(&w, input()); err != nil {
		e.Err = err.Error()
		return e
	}
	s := w.String()
	switch {
	case s == "":
		e.Empty = true
	case utf8.ValidString(s):
		e.Out = s
	default:
		e.OutB64 = base64.StdEncoding.EncodeToString(w.Bytes())
	}
	return e
}
