// The oracle for tests/test_ollama.py: Go's own text/template, run on the data Ollama's
// template.Execute gives a template that uses .Messages (ollama/template/template.go):
// .System is every system message joined by a blank line; .Messages is every message,
// the system ones included, with consecutive messages of one role merged.
//
// Reads {"template": "...", "messages": [{"role": ..., "content": ...}]} on stdin and
// writes the rendered prompt on stdout.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type Input struct {
	Template string    `json:"template"`
	Messages []Message `json:"messages"`
}

func main() {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var system []string
	var collated []*Message
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Role == "system" {
			system = append(system, m.Content)
		}
		if n := len(collated); n > 0 && collated[n-1].Role == m.Role && m.Role != "tool" {
			collated[n-1].Content += "\n\n" + m.Content
		} else {
			collated = append(collated, m)
		}
	}
	parsed, err := template.New("").Parse(in.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	data := map[string]any{
		"System":   strings.Join(system, "\n\n"),
		"Messages": collated,
		"Tools":    nil,
		"Response": "",
	}
	if err := parsed.Execute(os.Stdout, data); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
