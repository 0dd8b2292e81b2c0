package llama

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cellm-ai/cellm-go/convert"
	"github.com/cellm-ai/cellm-go/format"
	"github.com/cellm-ai/cellm-go/internal/npy"
	"github.com/cellm-ai/cellm-go/internal/numcheck"
	"github.com/cellm-ai/cellm-go/internal/testutil"
	"github.com/cellm-ai/cellm-go/sample"
)

// tmpRoot holds the .cellm files converted once per test binary run.
var tmpRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "llama-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	convMu   sync.Mutex
	convDone = map[string]string{}
)

// cellmPath converts the fixture model to a .cellm file (once) and returns its path.
func cellmPath(t testing.TB, model string, opt convert.Options) string {
	t.Helper()
	key := fmt.Sprintf("%s-%s-%v-%s-%d-%v", model, opt.DType, opt.QuantizeInt8, opt.Quantize, opt.GroupSize, opt.QuantizeEmbeddings)
	convMu.Lock()
	defer convMu.Unlock()
	if p, ok := convDone[key]; ok {
		return p
	}
	out := filepath.Join(tmpRoot, key+".cellm")
	if _, err := convert.Convert(testutil.Fixture(t, model), out, opt); err != nil {
		t.Fatalf("converting %s: %v", model, err)
	}
	convDone[key] = out
	return out
}

// loadModel converts and loads a fixture; the file stays open for the test binary's life.
func loadModel(t testing.TB, model string, opt convert.Options) *Model {
	t.Helper()
	f, err := format.Open(cellmPath(t, model, opt))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readNPY reads a reference .npy file.
func readNPY(t testing.TB, path string) *npy.Array {
	t.Helper()
	a, err := npy.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// refPosition is one position's digest in reference.json.
type refPosition struct {
	Argmax    int          `json:"argmax"`
	Top       [][2]float64 `json:"top"`
	LogSumExp float64      `json:"logsumexp"`
	Probe     []float64    `json:"probe"`
}

type refGreedy struct {
	NewTokens []int `json:"new_tokens"`
	Steps     []struct {
		Top    [][2]float64 `json:"top"`
		Margin float64      `json:"margin"`
	} `json:"steps"`
}

type refSequence struct {
	Name       string        `json:"name"`
	InputIDs   []int         `json:"input_ids"`
	Positions  []refPosition `json:"positions"`
	LastLogits *struct {
		File string `json:"file"`
		Row  int    `json:"row"`
	} `json:"last_logits"`
	HiddenStates *struct {
		File string `json:"file"`
	} `json:"hidden_states"`
	Greedy *refGreedy `json:"greedy"`
}

type reference struct {
	ProbeIDs   []int         `json:"probe_ids"`
	Sequences  []refSequence `json:"sequences"`
	Multimodal []refSequence `json:"multimodal"` // smolvlm-tiny: prompts with image features spliced in
}

func readReference(t testing.TB, model string) *reference {
	t.Helper()
	b, err := os.ReadFile(testutil.Fixture(t, model, "reference", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func logSumExp(x []float32) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// agreement runs every sequence through the reference model ref and the
// model m (all positions' logits) and counts the positions whose top-1
// tokens agree, out of total, with the smallest logits cosine seen.
func agreement(t *testing.T, ref, m *Model, seqs []refSequence) (agree, total int, minCos float64) {
	t.Helper()
	vocab := ref.Config().Vocab
	minCos = 1
	for _, seq := range seqs {
		n := len(seq.InputIDs)
		a, b := make([]float32, n*vocab), make([]float32, n*vocab)
		if err := ref.Forward(ref.NewState(n), seq.InputIDs, a, true); err != nil {
			t.Fatal(err)
		}
		if err := m.Forward(m.NewState(n), seq.InputIDs, b, true); err != nil {
			t.Fatal(err)
		}
		for p := range n {
			ra, rb := a[p*vocab:(p+1)*vocab], b[p*vocab:(p+1)*vocab]
			if sample.Argmax(ra) == sample.Argmax(rb) {
				agree++
			}
			total++
			minCos = min(minCos, numcheck.Cosine(t, "logits", ra, rb))
		}
	}
	return agree, total, minCos
}
