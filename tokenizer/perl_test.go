package tokenizer

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// perlSplit is a Perl program that splits each NUL-terminated input with
// the original patterns (Perl's regex engine has lookahead and \p{...}),
// applying a chain of patterns as llama.cpp does: each to every piece of
// the one before, the text between matches kept as pieces. It prints the
// pieces of each input separated by \x01, inputs terminated by NUL.
const perlSplit = `
use strict; use warnings;
binmode STDIN, ':encoding(UTF-8)'; binmode STDOUT, ':encoding(UTF-8)';
my %chains = (
  'llama-bpe' => [qr/(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/],
  'gpt-2' => [qr/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)/],
  'default' => [qr/[\p{P}\$\+<=>\^~\|]+/, qr/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)/, qr/\p{N}+/, qr/[0-9][0-9][0-9]/],
);
my $chain = $chains{$ARGV[0]} or die "unknown chain";
local $/ = "\0";
while (my $s = <STDIN>) {
  chomp $s;
  my @pieces = ($s);
  for my $re (@$chain) {
    my @next;
    for my $p (@pieces) {
      my $last = 0;
      while ($p =~ /$re/g) {
        my ($a, $b) = ($-[0], $+[0]);
        if ($b == $a) { pos($p) = $a + 1; next; }
        push @next, substr($p, $last, $a - $last) if $a > $last;
        push @next, substr($p, $a, $b - $a);
        $last = $b;
      }
      push @next, substr($p, $last) if $last < length $p;
    }
    @pieces = @next;
  }
  print join("\x01", @pieces), "\0";
}
`

// TestPretokenizersMatchPerl splits random strings over an alphabet of
// awkward characters with the scanners and with Perl running the original
// patterns, and compares. It is skipped when perl is not installed.
func TestPretokenizersMatchPerl(t *testing.T) {
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Skip("perl not found: the scanners are checked against it when it is installed")
	}
	alphabet := []string{
		"a", "b", "s", "t", "d", "m", "r", "e", "v", "l", "S", "T", "R", "E", "L", "M", "D", "V",
		"'", "''", "'s", "'T", "'re", "'Ll", "'ve",
		"0", "1", "7", "٣", "²", "Ⅻ", "½",
		" ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "\u00a0", "\u3000", "\u2028", "\u0085",
		"!", ".", ",", "?", "-", "_", "(", ")", "$", "+", "<", "=", ">", "^", "~", "|", "`", "@", "#", "…", "¿", "«",
		"é", "ß", "Ж", "ω", "日", "本", "テ", "한", "ا", "ก", "ា", "\u0301", "\u200d", "🦙", "😁", "☃", "€",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, name := range []string{"llama-bpe", "gpt-2", "default"} {
		cmd := exec.Command(perl, "-e", perlSplit, name)
		cmd.Stdin = strings.NewReader(strings.Join(inputs, "\x00") + "\x00")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("perl: %v\n%s", err, stderr.String())
		}
		results := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if len(results) != len(inputs) {
			t.Fatalf("%s: perl gave %d results for %d inputs", name, len(results), len(inputs))
		}
		p, _, _ := pretokenizerFor(name)
		bad := 0
		for i, in := range inputs {
			var want []string
			if results[i] != "" {
				want = strings.Split(results[i], "\x01")
			}
			if got := p.words(in); !slices.Equal(got, want) {
				if bad++; bad <= 10 {
					t.Errorf("%s %q:\n scanner %q\n    perl %q", name, in, got, want)
				}
			}
		}
		t.Logf("%s: %d of %d random strings split as Perl splits them", name, len(inputs)-bad, len(inputs))
	}
}
