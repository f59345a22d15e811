// Command producer publishes one Flovyn workflow run to NATS JetStream with the plain Go NATS
// client (github.com/nats-io/nats.go), no flovyn code: workflow.started, a task with two tokens,
// task.completed and workflow.completed, as JSON. See docs/producers.md.
//
// Build offline with Debian's packages (golang-go, golang-github-nats-io-go-nats-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o producer .
//
// Environment: FLOVYN_NATS_URL, FLOVYN_PREFIX (flovyn), FLOVYN_TENANT (acme), FLOVYN_WORKFLOW
// (a new id). Prints one JSON line per publish: {"subject","id","seq","duplicate"}.
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// FlovynEvent is the lifecycle event's JSON shape (docs/contract.md §2). Pointers are the
// fields that may be null.
type FlovynEvent struct {
	ID                        string          `json:"id"`
	TenantID                  string          `json:"tenant_id"`
	WorkflowExecutionID       *string         `json:"workflow_execution_id"`
	TaskExecutionID           *string         `json:"task_execution_id"`
	ParentWorkflowExecutionID *string         `json:"parent_workflow_execution_id"`
	EventType                 string          `json:"event_type"`
	Source                    string          `json:"source"`
	Data                      json.RawMessage `json:"data"`
	TimestampMs               int64           `json:"timestamp_ms"`
	CorrelationID             *string         `json:"correlation_id"`
}

// StreamEvent is a token/progress/data/error event; its tenant is the subject's.
type StreamEvent struct {
	WorkflowExecutionID string          `json:"workflow_execution_id"`
	TaskExecutionID     *string         `json:"task_execution_id"`
	Sequence            int64           `json:"sequence"`
	Type                string          `json:"type"`
	Payload             json.RawMessage `json:"payload"`
	TimestampMs         int64           `json:"timestamp_ms"`
}

// ids go into subjects as they are: 1-64 of [A-Za-z0-9_-], never a dot, `*`, `>` or a space
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func env(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

func uuid4() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func orNone(s *string) string {
	if s == nil {
		return "_"
	}
	return *s
}

type producer struct {
	js     nats.JetStreamContext
	prefix string
	tenant string
}

func (p *producer) send(subject, msgID string, body []byte, id string) error {
	m := nats.NewMsg(subject)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set(nats.MsgIdHdr, msgID) // Nats-Msg-Id: the dedup key
	m.Data = body
	ack, err := p.js.PublishMsg(m)
	if err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	line, _ := json.Marshal(map[string]any{"subject": subject, "id": id, "seq": ack.Sequence, "duplicate": ack.Duplicate})
	fmt.Println(string(line))
	return nil
}

// flovyn.v1.events.<tenant>.<workflow|_>.<task|_>.<event_type tokens...>
func (p *producer) event(ev FlovynEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	subject := strings.Join([]string{p.prefix, "v1", "events", ev.TenantID,
		orNone(ev.WorkflowExecutionID), orNone(ev.TaskExecutionID), ev.EventType}, ".")
	return p.send(subject, ev.TenantID+":"+ev.ID, body, ev.ID)
}

// flovyn.v1.streams.<tenant>.<workflow>.<task|_>.<kind>
func (p *producer) stream(se StreamEvent) error {
	body, err := json.Marshal(se)
	if err != nil {
		return err
	}
	task := orNone(se.TaskExecutionID)
	subject := strings.Join([]string{p.prefix, "v1", "streams", p.tenant, se.WorkflowExecutionID,
		task, se.Type}, ".")
	return p.send(subject, fmt.Sprintf("%s:%s:%s:%d", p.tenant, se.WorkflowExecutionID, task, se.Sequence), body, "")
}

func run() error {
	tenant := env("FLOVYN_TENANT", "acme")
	workflow := env("FLOVYN_WORKFLOW", "wf-"+uuid4())
	task := "task-" + uuid4()[:8]
	for _, id := range []string{tenant, workflow} {
		if !validID.MatchString(id) || id == "_" {
			return fmt.Errorf("'%s' is not a valid id", id)
		}
	}
	nc, err := nats.Connect(env("FLOVYN_NATS_URL", nats.DefaultURL), nats.Name("producer-example-go"))
	if err != nil {
		return err
	}
	defer nc.Drain()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	p := &producer{js: js, prefix: env("FLOVYN_PREFIX", "flovyn"), tenant: tenant}

	lifecycle := func(eventType string, taskID *string, data string) FlovynEvent {
		return FlovynEvent{ID: uuid4(), TenantID: tenant, WorkflowExecutionID: &workflow,
			TaskExecutionID: taskID, EventType: eventType, Source: "example:go",
			Data: json.RawMessage(data), TimestampMs: time.Now().UnixMilli()}
	}
	token := func(seq int64, text string) StreamEvent {
		payload, _ := json.Marshal(text)
		return StreamEvent{WorkflowExecutionID: workflow, TaskExecutionID: &task, Sequence: seq,
			Type: "token", Payload: payload, TimestampMs: time.Now().UnixMilli()}
	}

	started := lifecycle("workflow.started", nil, `{"input":{"prompt":"hello"}}`)
	steps := []func() error{
		func() error { return p.event(started) },
		func() error { return p.event(started) }, // a retry: acknowledged as a duplicate, stored once
		func() error { return p.event(lifecycle("task.started", &task, `{"attempt":1}`)) },
		func() error { return p.stream(token(1, "Hel")) },
		func() error { return p.stream(token(2, "lo")) },
		func() error { return p.event(lifecycle("task.completed", &task, `{"output":"Hello"}`)) },
		func() error { return p.event(lifecycle("workflow.completed", nil, `{"ok":true}`)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}
