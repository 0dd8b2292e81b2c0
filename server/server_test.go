package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/testutil"
)

// Model files converted once for all tests: the shipped English micro model
// (int8) and the tiny random SmolVLM with the real SmolVLM tokenizer.
var microPath, vlmPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cellm-server-*")
	if err != nil {
		panic(err)
	}
	code := 1
	if err := prepareModels(dir); err != nil {
		fmt.Fprintln(os.Stderr, "server tests:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func prepareModels(dir string) error {
	microPath = filepath.Join(dir, "micro.cellm")
	if _, err := convert.Convert(filepath.Join("..", "testdata", "pretrained-micro"), microPath,
		convert.Options{DType: format.F16, QuantizeInt8: true, QuantizeEmbeddings: true}); err != nil {
		return err
	}
	vdir := filepath.Join(dir, "vlm")
	if err := testutil.TinyVLMFolder("..", vdir); err != nil {
		return err
	}
	vlmPath = filepath.Join(dir, "vlm.cellm")
	_, err := convert.Convert(vdir, vlmPath, convert.Options{DType: format.F16})
	return err
}

func open(t testing.TB, path string) *cellm.Model {
	t.Helper()
	// Prefill chunks of 32 rows compute every row as the server's steps do.
	m, err := cellm.Open(path, &cellm.Options{PrefillChunk: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// testServer starts a server for the micro model (and the VLM if vlm).
func testServer(t testing.TB, cfg Config, vlm bool) (*Server, *httptest.Server) {
	t.Helper()
	models := []Model{{Name: "micro", Model: open(t, microPath)}}
	if vlm {
		models = append(models, Model{Name: "vlm", Model: open(t, vlmPath)})
	}
	s, err := New(cfg, models...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, hs
}

func post(t testing.TB, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type chatResponse struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
		Logprobs     *struct {
			Content []struct {
				Token       string                      `json:"token"`
				Logprob     float64                     `json:"logprob"`
				TopLogprobs []struct{ Logprob float64 } `json:"top_logprobs"`
			} `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// streamResult is a parsed SSE stream of chat completion chunks.
type streamResult struct {
	text   string
	finish string
	usage  *chatResponse
	chunks int
	done   bool
}

// readStream parses an SSE body, failing on anything malformed: every
// event a JSON chunk of the same id, one finish_reason, [DONE] last.
func readStream(r io.Reader) (streamResult, error) {
	var res streamResult
	sc := bufio.NewScanner(r)
	id := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return res, fmt.Errorf("line %q is not an SSE data line", line)
		}
		if res.done {
			return res, fmt.Errorf("data after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			res.done = true
			continue
		}
		var c struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Choices []struct {
				Delta        map[string]string `json:"delta"`
				Text         string            `json:"text"`
				FinishReason *string           `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
				TotalTokens      int `json:"total_tokens"`
			} `json:"usage"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return res, fmt.Errorf("chunk %q: %v", data, err)
		}
		if c.Error != nil {
			return res, fmt.Errorf("error event: %s", c.Error.Message)
		}
		if id == "" {
			id = c.ID
		} else if c.ID != id {
			return res, fmt.Errorf("chunk id %q after %q", c.ID, id)
		}
		res.chunks++
		if c.Usage != nil {
			u := &chatResponse{}
			u.Usage.PromptTokens, u.Usage.CompletionTokens, u.Usage.TotalTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens
			res.usage = u
		}
		for _, ch := range c.Choices {
			if res.finish != "" {
				return res, fmt.Errorf("a choice after finish_reason %q", res.finish)
			}
			res.text += ch.Delta["content"] + ch.Text
			if ch.FinishReason != nil {
				res.finish = *ch.FinishReason
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if !res.done || res.finish == "" {
		return res, fmt.Errorf("stream ended without finish_reason and [DONE] (finish %q, done %v)", res.finish, res.done)
	}
	return res, nil
}

func chatBody(prompt string, maxTokens int, extra string) string {
	p, _ := json.Marshal(prompt)
	return fmt.Sprintf(`{"model":"micro","messages":[{"role":"user","content":%s}],"max_tokens":%d,"temperature":0%s}`, p, maxTokens, extra)
}

// sdkGreedy is the SDK's single-sequence greedy generation for a chat prompt.
func sdkGreedy(t testing.TB, path, prompt string, maxTokens int) *cellm.Result {
	t.Helper()
	res, err := open(t, path).Generate(context.Background(), cellm.Request{
		Messages: []chat.Message{{Role: "user", Content: prompt}}, MaxNewTokens: maxTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestChatCompletionMatchesSDK(t *testing.T) {
	_, hs := testServer(t, Config{}, false)
	want := sdkGreedy(t, microPath, "What is a class?", 24)
	resp, body := post(t, hs.URL+"/v1/chat/completions", chatBody("What is a class?", 24, ""))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got chatResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 1 || got.Object != "chat.completion" || got.Model != "micro" {
		t.Fatalf("response %s", body)
	}
	c := got.Choices[0]
	if c.Message.Content != want.Text || c.Message.Role != "assistant" {
		t.Errorf("content %q, SDK %q", c.Message.Content, want.Text)
	}
	wantFinish := "length"
	if want.StopReason == cellm.StopEOS {
		wantFinish = "stop"
	}
	if c.FinishReason != wantFinish {
		t.Errorf("finish_reason %q, want %q", c.FinishReason, wantFinish)
	}
	u := got.Usage
	if u.PromptTokens != len(want.PromptIDs) || u.CompletionTokens != len(want.Tokens) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v, want prompt %d completion %d", u, len(want.PromptIDs), len(want.Tokens))
	}

	// The same request streamed gives the same text, and usage when asked.
	resp2, err := http.Post(hs.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(chatBody("What is a class?", 24, `,"stream":true,"stream_options":{"include_usage":true}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if ct := resp2.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	st, err := readStream(resp2.Body)
	if err != nil {
		t.Fatal(err)
	}
	if st.text != want.Text || st.finish != wantFinish {
		t.Errorf("stream %q (%s), want %q (%s)", st.text, st.finish, want.Text, wantFinish)
	}
	if st.usage == nil || st.usage.Usage.CompletionTokens != len(want.Tokens) {
		t.Errorf("stream usage %+v", st.usage)
	}
}

func TestLogprobsAndStop(t *testing.T) {
	_, hs := testServer(t, Config{}, false)
	want := sdkGreedy(t, microPath, "What is a class?", 16)
	resp, body := post(t, hs.URL+"/v1/chat/completions", chatBody("What is a class?", 16, `,"logprobs":true,"top_logprobs":3`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got chatResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	lp := got.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != len(want.Tokens) {
		t.Fatalf("logprobs %s", body)
	}
	for i, c := range lp.Content {
		if len(c.TopLogprobs) != 3 || !(c.Logprob <= 0) || c.Logprob < -100 {
			t.Fatalf("token %d: %+v", i, c)
		}
		// greedy: the chosen token is the most likely one
		if d := c.TopLogprobs[0].Logprob - c.Logprob; d > 1e-5 || d < -1e-5 {
			t.Errorf("token %d: logprob %v, top %v", i, c.Logprob, c.TopLogprobs[0].Logprob)
		}
	}
	// A stop string cuts the text before it.
	words := strings.Fields(want.Text)
	if len(words) < 2 {
		t.Skip("generation too short for a stop string")
	}
	stop := words[1]
	resp, body = post(t, hs.URL+"/v1/chat/completions", chatBody("What is a class?", 16, fmt.Sprintf(`,"stop":[%q]`, stop)))
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	wantText := want.Text[:strings.Index(want.Text, stop)]
	if c := got.Choices[0]; c.Message.Content != wantText || c.FinishReason != "stop" {
		t.Errorf("with stop %q: %q (%s), want %q", stop, c.Message.Content, c.FinishReason, wantText)
	}
}

func TestCompletionsAndModels(t *testing.T) {
	_, hs := testServer(t, Config{}, false)
	m := open(t, microPath)
	ids, err := m.Tokenize(cellm.Request{Prompt: "A class is"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Generate(context.Background(), cellm.Request{InputIDs: ids, MaxNewTokens: 12}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, prompt := range []string{`"A class is"`, fmt.Sprint(strings.ReplaceAll(fmt.Sprint(ids), " ", ","))} {
		resp, body := post(t, hs.URL+"/v1/completions", `{"model":"micro","max_tokens":12,"temperature":0,"prompt":`+prompt+`}`)
		var got struct {
			Object  string
			Choices []struct {
				Text         string
				FinishReason string `json:"finish_reason"`
			}
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 || len(got.Choices) != 1 {
			t.Fatalf("prompt %s: %d %s", prompt, resp.StatusCode, body)
		}
		if got.Object != "text_completion" || got.Choices[0].Text != want.Text {
			t.Errorf("prompt %s: %q, want %q", prompt, got.Choices[0].Text, want.Text)
		}
	}
	resp, err := http.Get(hs.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string
		Data   []struct{ ID, Object string }
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "micro" {
		t.Errorf("models %+v", list)
	}
}

func TestErrors(t *testing.T) {
	_, hs := testServer(t, Config{MaxBodyBytes: 1 << 16, APIKey: "sekret"}, false)
	auth := []string{"Authorization", "Bearer sekret"}
	long := strings.Repeat("word ", 3000)
	for _, c := range []struct {
		name, path, body string
		header           []string
		status           int
		param, contains  string
	}{
		{"no key", "/v1/chat/completions", chatBody("hi", 4, ""), nil, 401, "", "API key"},
		{"wrong key", "/v1/chat/completions", chatBody("hi", 4, ""), []string{"Authorization", "Bearer nope"}, 401, "", "API key"},
		{"not json", "/v1/chat/completions", `{"model":`, auth, 400, "", "JSON"},
		{"wrong type", "/v1/chat/completions", `{"model":"micro","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, auth, 400, "temperature", "want a number"},
		{"unknown model", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, auth, 404, "model", "not served"},
		{"n=2", "/v1/chat/completions", chatBody("hi", 4, `,"n":2`), auth, 400, "n", "n = 1"},
		{"no messages", "/v1/chat/completions", `{"model":"micro","messages":[]}`, auth, 400, "messages", "at least one"},
		{"bad role", "/v1/chat/completions", `{"model":"micro","messages":[{"role":"wizard","content":"hi"}]}`, auth, 400, "messages[0].role", "role"},
		{"remote image", "/v1/chat/completions", `{"model":"micro","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`, auth, 400, "image_url", "not fetched"},
		{"file image", "/v1/chat/completions", `{"model":"micro","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, auth, 400, "image_url", "not fetched"},
		{"image to text model", "/v1/chat/completions", `{"model":"micro","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`, auth, 400, "messages", "takes no images"},
		{"bad stop", "/v1/chat/completions", chatBody("hi", 4, `,"stop":5`), auth, 400, "stop", "string"},
		{"temperature range", "/v1/chat/completions", chatBody("hi", 4, `,"temperature":3`), auth, 400, "temperature", "0 to 2"},
		{"max_tokens 0", "/v1/chat/completions", chatBody("hi", 0, ""), auth, 400, "max_tokens", "1 or more"},
		{"prompt too long", "/v1/chat/completions", chatBody(long, 4, ""), auth, 400, "messages", "context holds"},
		{"body too large", "/v1/chat/completions", chatBody(strings.Repeat("x", 1<<17), 4, ""), auth, 413, "", "exceeds"},
		{"two values", "/v1/chat/completions", chatBody("hi", 4, "") + "{}", auth, 400, "", "more than one"},
		{"bad ids", "/v1/completions", `{"model":"micro","prompt":[999999]}`, auth, 400, "messages", "vocabulary"},
		{"empty prompt", "/v1/completions", `{"model":"micro","prompt":""}`, auth, 400, "prompt", "empty"},
		{"ollama chat image to text model", "/api/chat", `{"model":"micro","messages":[{"role":"user","content":"hi","images":["iVBORw0KGgo="]}]}`, auth, 400, "", "takes no images"},
		{"ollama generate image to text model", "/api/generate", `{"model":"micro","prompt":"hi","images":["iVBORw0KGgo="]}`, auth, 400, "", "takes no images"},
		{"ollama wrong type", "/api/chat", `{"model":"micro","messages":[{"role":"user","content":"hi"}],"options":{"temperature":"x"}}`, auth, 400, "", "temperature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, hs.URL+c.path, c.body, c.header...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if strings.HasPrefix(c.path, "/api/") {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.contains) {
					t.Errorf("body %s, want an Ollama error containing %q", body, c.contains)
				}
				return
			}
			var e openAIError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if !strings.Contains(e.Error.Message, c.contains) || e.Error.Type == "" {
				t.Errorf("error %+v, want a message containing %q", e.Error, c.contains)
			}
			if c.param != "" && (e.Error.Param == nil || *e.Error.Param != c.param) {
				t.Errorf("param %v, want %q", e.Error.Param, c.param)
			}
		})
	}
	// Unknown fields of newer API versions are accepted.
	resp, body := post(t, hs.URL+"/v1/chat/completions", chatBody("hi", 2, `,"parallel_tool_calls":false,"user":"x","metadata":{"a":1}`), auth...)
	if resp.StatusCode != 200 {
		t.Errorf("unknown fields: %d %s", resp.StatusCode, body)
	}
}

func TestOllama(t *testing.T) {
	_, hs := testServer(t, Config{}, false)
	want := sdkGreedy(t, microPath, "What is a class?", 10)
	resp, body := post(t, hs.URL+"/api/chat", `{"model":"micro","messages":[{"role":"user","content":"What is a class?"}],"options":{"temperature":0,"num_predict":10}}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var text strings.Builder
	lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
	for i, l := range lines {
		var o struct {
			Model   string
			Message struct{ Role, Content string }
			Done    bool
			Reason  string `json:"done_reason"`
			Eval    int    `json:"eval_count"`
		}
		if err := json.Unmarshal(l, &o); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if o.Done != (i == len(lines)-1) || o.Model != "micro" || o.Message.Role != "assistant" {
			t.Fatalf("line %d: %s", i, l)
		}
		text.WriteString(o.Message.Content)
		if o.Done && (o.Eval != len(want.Tokens) || o.Reason == "") {
			t.Errorf("final line %s", l)
		}
	}
	if text.String() != want.Text {
		t.Errorf("ollama chat %q, want %q", text.String(), want.Text)
	}
	resp, body = post(t, hs.URL+"/api/generate", `{"model":"micro","prompt":"What is a class?","stream":false,"options":{"temperature":0,"num_predict":10}}`)
	var g struct {
		Response string
		Done     bool
	}
	if json.Unmarshal(body, &g) != nil || !g.Done || g.Response != want.Text {
		t.Errorf("generate %d %s, want %q", resp.StatusCode, body, want.Text)
	}
	r, err := http.Get(hs.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	var tags struct {
		Models []struct {
			Name    string
			Details struct{ Format, Family string }
		}
	}
	json.NewDecoder(r.Body).Decode(&tags)
	r.Body.Close()
	if len(tags.Models) != 1 || tags.Models[0].Name != "micro" || tags.Models[0].Details.Family != "llama" {
		t.Errorf("tags %+v", tags)
	}
	resp, body = post(t, hs.URL+"/api/show", `{"model":"micro"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"capabilities":["completion"]`) {
		t.Errorf("show %d %s", resp.StatusCode, body)
	}
}

func TestVisionChat(t *testing.T) {
	_, hs := testServer(t, Config{}, true)
	img, err := os.ReadFile(filepath.Join("testdata", "red.png"))
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, vlmPath)
	want, err := m.Generate(context.Background(), cellm.Request{Messages: []chat.Message{{Role: "user",
		Parts: []chat.Part{{Type: "image"}, {Type: "text", Text: "What color is it?"}}, Images: 1, Content: "What color is it?"}},
		Images: [][]byte{img}, MaxNewTokens: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	uri := "data:image/png;base64," + base64Std(img)
	body := fmt.Sprintf(`{"model":"vlm","max_tokens":6,"temperature":0,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":%q}},{"type":"text","text":"What color is it?"}]}]}`, uri)
	resp, out := post(t, hs.URL+"/v1/chat/completions", body)
	var got chatResponse
	if json.Unmarshal(out, &got) != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if got.Choices[0].Message.Content != want.Text || got.Usage.PromptTokens != len(want.PromptIDs) {
		t.Errorf("vision reply %q (%d prompt tokens), SDK %q (%d)", got.Choices[0].Message.Content, got.Usage.PromptTokens, want.Text, len(want.PromptIDs))
	}
	// The same question through Ollama's /api/chat (bare base64 images).
	resp, out = post(t, hs.URL+"/api/chat", fmt.Sprintf(`{"model":"vlm","stream":false,"options":{"temperature":0,"num_predict":6},"messages":[{"role":"user","content":"What color is it?","images":[%q]}]}`, base64Std(img)))
	var o struct{ Message struct{ Content string } }
	if json.Unmarshal(out, &o) != nil || resp.StatusCode != 200 || o.Message.Content != want.Text {
		t.Errorf("ollama vision reply %d %s, SDK %q", resp.StatusCode, out, want.Text)
	}
	// Not an image.
	resp, out = post(t, hs.URL+"/v1/chat/completions", strings.Replace(body, uri, "data:image/png;base64,aGVsbG8=", 1))
	if resp.StatusCode != 400 {
		t.Errorf("bad image: %d %s", resp.StatusCode, out)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	_, hs := testServer(t, Config{}, false)
	_, reply := post(t, hs.URL+"/v1/chat/completions", chatBody("hi", 3, ""))
	var done chatResponse
	if err := json.Unmarshal(reply, &done); err != nil {
		t.Fatal(err)
	}
	steps := (done.Usage.PromptTokens+31)/32 + 2 // prompt chunks of 32 (the first token with the last), 2 decode steps
	post(t, hs.URL+"/v1/chat/completions", `{}`)
	wants := []string{
		`cellm_requests_total{endpoint="/v1/chat/completions",code="200"} 1`,
		`cellm_requests_total{endpoint="/v1/chat/completions",code="400"} 1`,
		"cellm_generated_tokens_total 3", "cellm_queue_depth 0", "cellm_active_sequences 0",
		`cellm_kv_blocks{model="micro",state="used"} 0`,
		"cellm_time_to_first_token_seconds_count 1", `cellm_inter_token_latency_seconds_bucket{le="+Inf"} 2`,
		"# TYPE cellm_time_to_first_token_seconds histogram",
		fmt.Sprintf("cellm_step_seconds_count %d", steps), fmt.Sprintf("cellm_step_post_seconds_count %d", steps),
	}
	// The reply's last event leaves the scheduler before its step's
	// bookkeeping ends (the post-step time, the active count): read the
	// metrics until they settle.
	var b []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r, err := http.Get(hs.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(string(b), w) }) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	r, err := http.Get(hs.URL + "/health")
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("health: %v %v", err, r.StatusCode)
	}
	r.Body.Close()
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
