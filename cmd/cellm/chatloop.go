package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/cellm-ai/cellm-go"
	"github.com/cellm-ai/cellm-go/chat"
	"github.com/cellm-ai/cellm-go/imageproc"
)

// chatLoop is the interactive chat of infer and vlm-infer: it reads lines
// from in, answers each with one generation in a session that keeps its KV
// cache between turns, and handles slash commands itself.
//
// Ctrl-C (a value on interrupts) during a reply stops the reply and returns
// to the prompt; at the prompt it ends the chat, as do /exit and end of
// input. A history that no longer fits the context loses its oldest turns.
type chatLoop struct {
	m          *cellm.Model
	g          *genFlags
	base       cellm.Request // generation settings; its messages and images are the loop's
	in         io.Reader
	out, info  io.Writer // replies; prompts, notices and stats
	interrupts <-chan os.Signal

	sess    *cellm.Session // made on first use; keeps the KV cache between turns
	system  string
	turns   []chatTurn
	pending []chatImage // attached with /image, for the next message
}

// chatTurn is one user message, its images and the reply to it.
type chatTurn struct {
	user   string
	images []chatImage
	reply  string
}

// chatImage is an attached image, preprocessed and encoded once.
type chatImage struct {
	path  string
	batch *imageproc.Batch
	feats []float32
}

// chatHelp lists the slash commands (vlm-infer adds /image).
const chatHelp = `commands:
  /help           this list
  /exit, /quit    end the chat (so do Ctrl-D, and Ctrl-C at the prompt)
  /clear          forget the conversation (the system message stays)
  /system [TEXT]  set the system message (without TEXT: remove it)
`

const chatImageHelp = `  /image PATH     attach an image to your next message
`

// runChat runs an interactive chat on the process's stdin, stdout and
// stderr, with SIGINT as the interrupt.
func runChat(m *cellm.Model, g *genFlags, base cellm.Request, images []chatImage) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	c := &chatLoop{m: m, g: g, base: base, in: os.Stdin, out: os.Stdout, info: os.Stderr,
		interrupts: sig, system: base.System, pending: images}
	return c.run()
}

// run reads and answers lines until /exit, end of input or Ctrl-C at the prompt.
func (c *chatLoop) run() error {
	intro := "interactive chat: type a message; /help lists the commands, Ctrl-C stops a reply, Ctrl-C at the prompt or /exit quits"
	if c.m.IsVLM() {
		intro += "; /image PATH attaches an image"
	}
	fmt.Fprintln(c.info, intro)
	defer func() {
		if c.sess != nil {
			c.sess.Close()
		}
	}()
	for _, img := range c.pending {
		fmt.Fprintf(c.info, "attached %s to your first message\n", img.path)
	}
	lines := make(chan string)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		sc := bufio.NewScanner(c.in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
		if err := sc.Err(); err != nil {
			readErr <- fmt.Errorf("reading the chat input: %w (lines are limited to 1 MiB)", err)
		} else {
			readErr <- nil
		}
		close(lines)
	}()
	for {
		fmt.Fprint(c.info, "> ")
		var line string
		select {
		case <-c.interrupts:
			fmt.Fprintln(c.info)
			return nil
		case l, ok := <-lines:
			if !ok {
				fmt.Fprintln(c.info)
				return <-readErr
			}
			line = strings.TrimSpace(l)
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
			if quit := c.command(line); quit {
				return nil
			}
			continue
		}
		c.say(strings.TrimPrefix(line, "/")) // "//text" sends "/text"
	}
}

// command runs a slash command and reports whether the chat ends.
func (c *chatLoop) command(line string) (quit bool) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/exit", "/quit":
		return true
	case "/help":
		fmt.Fprint(c.info, chatHelp)
		if c.m.IsVLM() {
			fmt.Fprint(c.info, chatImageHelp)
		}
		fmt.Fprintln(c.info, "start a message with // to send it with a leading /")
	case "/clear", "/reset":
		c.turns, c.pending = nil, nil
		fmt.Fprintln(c.info, "conversation cleared")
	case "/system":
		c.system = arg
		if arg == "" {
			fmt.Fprintln(c.info, "system message removed")
		} else {
			fmt.Fprintln(c.info, "system message set")
		}
	case "/image":
		if !c.m.IsVLM() {
			fmt.Fprintln(c.info, "this model takes no images (use cellm vlm-infer with a vision-language model)")
			break
		}
		if arg == "" {
			fmt.Fprintln(c.info, "usage: /image PATH")
			break
		}
		img, err := loadChatImage(c.m, arg, c.base.SplitImage, c.base.MaxImagePixels)
		if err != nil {
			fmt.Fprintf(c.info, "error: %v\n", err)
			break
		}
		c.pending = append(c.pending, img)
		fmt.Fprintf(c.info, "attached %s (%d tiles) to your next message\n", arg, img.batch.N)
	default:
		fmt.Fprintf(c.info, "unknown command %s: /help lists the commands\n", name)
	}
	return false
}

// loadChatImage reads, preprocesses and encodes one image file.
func loadChatImage(m *cellm.Model, path string, split *bool, maxPixels int) (chatImage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return chatImage{}, err
	}
	b, err := m.PreprocessImages([][]byte{data}, split, maxPixels)
	if err != nil {
		return chatImage{}, fmt.Errorf("%s: %w", path, err)
	}
	feats, err := m.ImageFeaturesProgress(b, tileProgress())
	if err != nil {
		return chatImage{}, fmt.Errorf("%s: %w", path, err)
	}
	return chatImage{path: path, batch: b, feats: feats}, nil
}

// request is the generation request of the conversation so far (the last
// turn without its reply): messages, and the images of every turn in order.
func (c *chatLoop) request() (cellm.Request, error) {
	req := c.base
	req.Prompt, req.System, req.Images = "", "", nil
	req.Messages = nil
	if c.system != "" {
		req.Messages = append(req.Messages, chat.Message{Role: "system", Content: c.system})
	}
	var imgs []chatImage
	for i, t := range c.turns {
		req.Messages = append(req.Messages, chat.Message{Role: "user", Content: t.user, Images: len(t.images)})
		imgs = append(imgs, t.images...)
		if i < len(c.turns)-1 {
			req.Messages = append(req.Messages, chat.Message{Role: "assistant", Content: t.reply})
		}
	}
	if len(imgs) > 0 {
		b, feats, err := joinImages(imgs)
		if err != nil {
			return req, err
		}
		req.ImageBatch, req.ImageFeatures = b, feats
	}
	return req, nil
}

// joinImages concatenates the tiles and features of several images.
func joinImages(imgs []chatImage) (*imageproc.Batch, []float32, error) {
	first := imgs[0].batch
	b := &imageproc.Batch{H: first.H, W: first.W}
	var feats []float32
	for _, img := range imgs {
		ib := img.batch
		if ib.H != b.H || ib.W != b.W {
			return nil, nil, fmt.Errorf("%s: tiles of %dx%d, earlier images %dx%d", img.path, ib.H, ib.W, b.H, b.W)
		}
		b.Pixels = append(b.Pixels, ib.Pixels...)
		mask := ib.Mask
		if mask == nil {
			mask = make([]bool, ib.N*ib.H*ib.W)
			for i := range mask {
				mask[i] = true
			}
		}
		b.Mask = append(b.Mask, mask...)
		b.N += ib.N
		b.Grids = append(b.Grids, ib.Grids...)
		feats = append(feats, img.feats...)
	}
	return b, feats, nil
}

// contextLimit is the context the prompt and reply share.
func (c *chatLoop) contextLimit() int {
	if c.base.MaxContext > 0 {
		return c.base.MaxContext
	}
	return c.m.ContextLength()
}

// fit drops the oldest turns until the prompt leaves room for a reply
// (--gen tokens, at most half the context), and says so. It fails when the
// newest message alone does not fit.
func (c *chatLoop) fit() (cellm.Request, error) {
	limit := c.contextLimit()
	room := min(c.g.gen, limit/2)
	dropped := 0
	for {
		req, err := c.request()
		if err != nil {
			return req, err
		}
		if limit <= 0 {
			return req, nil
		}
		ids, err := c.m.Tokenize(req)
		if err != nil {
			return req, err
		}
		if len(ids)+room <= limit {
			if dropped > 0 {
				fmt.Fprintf(c.info, "(the conversation outgrew the context of %d tokens: dropped the oldest %d turn(s), %d kept)\n",
					limit, dropped, len(c.turns))
			}
			return req, nil
		}
		if len(c.turns) == 1 {
			return req, fmt.Errorf("%w: this message needs %d tokens plus %d for the reply, the context holds %d (raise --ctx-size or lower --gen)",
				cellm.ErrContextFull, len(ids), room, limit)
		}
		c.turns = c.turns[1:]
		dropped++
	}
}

// say sends one user message and streams the reply; Ctrl-C stops it.
func (c *chatLoop) say(text string) {
	c.turns = append(c.turns, chatTurn{user: text, images: c.pending})
	c.pending = nil
	req, err := c.fit()
	if err != nil {
		fmt.Fprintf(c.info, "error: %v\n", err)
		c.unsay()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		select {
		case <-c.interrupts:
			cancel()
		case <-finished:
		}
	}()
	res, err := c.g.stream(ctx, c.out, c.session(), req)
	close(finished)
	cancel()
	last := &c.turns[len(c.turns)-1]
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(c.info, "(stopped)")
		if res == nil || res.Text == "" {
			c.unsay()
			return
		}
	case err != nil:
		fmt.Fprintf(c.info, "error: %v\n", err)
		c.unsay()
		return
	}
	last.reply = res.Text
	if c.g.stats {
		printStats(c.info, res)
	}
}

// unsay takes back the last message that got no reply; its images go back
// to the next message.
func (c *chatLoop) unsay() {
	last := c.turns[len(c.turns)-1]
	c.turns = c.turns[:len(c.turns)-1]
	c.pending = append(last.images, c.pending...)
}

// session returns the chat's session, made on first use.
func (c *chatLoop) session() *cellm.Session {
	if c.sess == nil {
		c.sess = c.m.NewSession()
	}
	return c.sess
}
