package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/chat"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium-family browser, or "".
func chromium() string {
	if p := os.Getenv("CELLM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestChatPageInBrowser drives the embedded chat page in headless
// Chromium: a text question to the micro model streams the same reply as
// the SDK's greedy generation, then an image question to the VLM.
func TestChatPageInBrowser(t *testing.T) {
	browser := chromium()
	if browser == "" {
		if os.Getenv("CELLM_REQUIRE_BROWSER") != "" {
			t.Fatal("CELLM_REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium, or set CELLM_CHROMIUM)")
		}
		t.Skip("no Chromium installed (apt-get install chromium, or set CELLM_CHROMIUM): the chat page test needs a real browser")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	const maxTokens = 16
	srv, hs := testServer(t, Config{MaxTokens: maxTokens}, true)
	var slow atomic.Bool // slows decoding for the stop button
	srv.models[0].sched.stepHook = func() {
		if slow.Load() {
			time.Sleep(100 * time.Millisecond)
		}
	}
	wantText := sdkGreedy(t, microPath, "What is a class?", maxTokens).Text
	img := filepath.Join("testdata", "red.png")
	imgData, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	wantImage, err := open(t, vlmPath).Generate(context.Background(), cellm.Request{Messages: []chat.Message{{Role: "user",
		Parts: []chat.Part{{Type: "image"}, {Type: "text", Text: "What color is it?"}}, Images: 1, Content: "What color is it?"}},
		Images: [][]byte{imgData}, MaxNewTokens: maxTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	absImg, err := filepath.Abs(img)
	if err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 800)}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	stage := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("browser, %s: %v", name, err)
		}
	}
	value := func(name string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("browser, %s: %v", name, err)
		}
		return v
	}
	done := chromedp.CSS(`.msg.assistant[data-done="true"]`)
	stage("load the page and list the models",
		chromedp.Navigate(hs.URL+"/"),
		chromedp.WaitReady(chromedp.CSS(`#model option[value="vlm"]`)))
	options := value("model list", chromedp.Text(chromedp.CSS("#model")))
	stage("ask the text model",
		chromedp.SetValue(chromedp.CSS("#temperature"), "0"),
		chromedp.SendKeys(chromedp.CSS("#input"), "What is a class?"),
		chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(done))
	reply := value("text reply", chromedp.TextContent(chromedp.CSS(`.msg.assistant[data-done="true"] span`)))
	stage("pick the vision model and attach an image",
		chromedp.Click(chromedp.CSS("#clear")),
		chromedp.SetValue(chromedp.CSS("#model"), "vlm"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("model").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatalf("browser, model change: %v", err)
	}
	stage("attach an image",
		chromedp.WaitVisible(chromedp.CSS("#attach-label")),
		chromedp.SetUploadFiles(chromedp.CSS("#image"), []string{absImg}),
		chromedp.WaitVisible(chromedp.Search(`//span[@id="attached" and text()="red.png"]`)))
	stage("ask about the image",
		chromedp.SendKeys(chromedp.CSS("#input"), "What color is it?"),
		chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(chromedp.CSS(".msg.user img")),
		chromedp.WaitVisible(done))
	imageReply := value("image reply", chromedp.TextContent(chromedp.CSS(`.msg.assistant[data-done="true"] span`)))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser, screenshot: %v", err)
	}
	slow.Store(true)
	stage("stop a reply while it streams",
		chromedp.Click(chromedp.CSS("#clear")),
		chromedp.SetValue(chromedp.CSS("#model"), "micro"),
		chromedp.SendKeys(chromedp.CSS("#input"), "What is a module?"),
		chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(chromedp.CSS("#stop")))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector(".msg.assistant span").textContent.length > 0`)); err != nil {
		t.Fatalf("browser, first streamed text: %v", err)
	}
	stage("press stop",
		chromedp.Click(chromedp.CSS("#stop")),
		chromedp.WaitVisible(done),
		chromedp.WaitVisible(chromedp.CSS("#send")))
	stopped := value("stopped reply", chromedp.TextContent(chromedp.CSS(`.msg.assistant[data-done="true"] span`)))
	if !strings.HasSuffix(stopped, "[stopped]") {
		t.Errorf("stopped reply %q lacks [stopped]", stopped)
	}
	waitFor(t, "the stopped request to leave the scheduler", func() bool { _, a := srv.models[0].sched.load(); return a == 0 })
	dir := os.Getenv("TEST_OUT")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, "chat-page.png"), shot, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("models %q; reply %q; image reply %q; screenshot in %s", options, reply, imageReply, dir)
	if reply != wantText {
		t.Errorf("page reply %q, SDK %q", reply, wantText)
	}
	if imageReply != wantImage.Text {
		t.Errorf("page image reply %q, SDK %q", imageReply, wantImage.Text)
	}
}
