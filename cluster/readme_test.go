package cluster_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeQuotesExamples checks that every Go block of README.md that
// names an example ("// Example_x") is that example's body, line for line.
func TestReadmeQuotesExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	bodies := exampleBodies(t, "readme_example_test.go")
	quoted := 0
	for _, block := range goBlocks(string(readme)) {
		first, rest, _ := strings.Cut(block, "\n")
		name, ok := strings.CutPrefix(strings.TrimSpace(first), "// ")
		if !ok || !strings.HasPrefix(name, "Example") {
			continue
		}
		body, found := bodies[name]
		require.True(t, found, "README quotes %s, which readme_example_test.go lacks", name)
		require.Equal(t, body, strings.TrimSpace(rest), "README's %s differs from the example", name)
		quoted++
	}
	require.Equal(t, len(bodies), quoted, "every README example is quoted")
}

func goBlocks(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```go\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		out = append(out, block)
	}
	return out
}

// exampleBodies returns each Example function's body, dedented one tab.
func exampleBodies(t *testing.T, file string) map[string]string {
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, 0)
	require.NoError(t, err)
	out := make(map[string]string)
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !strings.HasPrefix(fn.Name.Name, "Example") {
			continue
		}
		body := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		lines := strings.Split(strings.Trim(body, "\n"), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, "\t")
		}
		out[fn.Name.Name] = strings.TrimSpace(strings.Join(lines, "\n"))
	}
	return out
}
