// Learner names as the roster spells them: the browser's copy of app/roster.py's rule, for the
// suggestions at the panel's learner box. The server matches again on every flag (it is the
// one that decides what is logged); both sides run tests/vectors/roster/names.json.

// Python's str.split() whitespace (what fold_name splits on): \s without U+FEFF, plus the
// separators \x1c-\x1f and \x85.
const SPACES = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const MARK = /\p{M}/u;
const CHEROKEE = /[\u13a0-\u13f5\u13f8-\u13fd\uab70-\uabbf]/u;

/**
 * Python's unicodedata.combining(c) != 0, which JS cannot ask directly: after U+0345 (the only
 * mark of the highest class, 240) a mark of a lower non-zero class is moved in front of it by
 * canonical ordering; a class-0 character (a spacing vowel sign, say) stays where it is.
 */
function combining(c) {
  if (!MARK.test(c)) return false;
  return c === "\u0345" || `a\u0345${c}`.normalize("NFD") !== `a\u0345${c}`;
}

/** Case- and accent-insensitive form: "Sofía  HERNÁNDEZ" -> "sofia hernandez" (app/roster.py fold_name). */
export function foldName(name) {
  const bare = [...String(name).normalize("NFKD")].filter((c) => !combining(c)).join("");
  return [...bare].map(casefold).join("").split(SPACES).filter(Boolean).join(" ");
}

/**
 * Python's str.casefold() for one character: its lower case, or where that is a variant
 * (ß, ς, ᲀ…) the lower case of its upper case; dotless ı stays itself, and Cherokee folds
 * to upper case. (Checked once against Python 3.11, Unicode 14, over every code point.)
 */
function casefold(c) {
  if (CHEROKEE.test(c)) return c.toUpperCase();
  const lower = c.toLowerCase();
  if (lower === "ı") return lower;
  return lower.toUpperCase().toLowerCase();
}

function hits(folded, key) {
  return folded.startsWith(key) || folded.split(" ").some((w) => w.startsWith(key));
}

/**
 * The roster's spelling of `typed` (app/roster.py match_learner): an exact match (ignoring case
 * and accents), else the one name it is a prefix of (of the whole name or of one of its words);
 * with no match, or several, the name as typed.
 */
export function matchLearner(roster, typed) {
  const key = foldName(typed);
  if (!key) return typed;
  const folded = roster.map((name) => [foldName(name), name]);
  const exact = folded.find(([f]) => f === key);
  if (exact) return exact[1];
  const found = new Set(folded.filter(([f]) => hits(f, key)).map(([, name]) => name));
  return found.size === 1 ? [...found][0] : typed;
}

/**
 * The roster names `typed` could mean, best first: exact matches, then names it begins, then
 * names with a word it begins; roster order within each; each name once; at most `limit`.
 */
export function suggestLearners(roster, typed, limit = 8) {
  const key = foldName(typed);
  if (!key) return [];
  const rank = (f) => (f === key ? 0 : f.startsWith(key) ? 1 : hits(f, key) ? 2 : 3);
  const ranked = [];
  const seen = new Set();
  for (const [i, name] of roster.entries()) {
    const r = rank(foldName(name));
    if (r < 3 && !seen.has(name)) {
      seen.add(name);
      ranked.push([r, i, name]);
    }
  }
  ranked.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return ranked.slice(0, limit).map(([, , name]) => name);
}

/** The roster names `typed` could mean when it is not clear which ("maria" with two Marias);
 * [] when it is clear (an exact match, one name) or matches none. */
export function ambiguousLearners(roster, typed) {
  const key = foldName(typed);
  if (!key) return [];
  const folded = roster.map((name) => [foldName(name), name]);
  if (folded.some(([f]) => f === key)) return [];
  const found = [...new Set(folded.filter(([f]) => hits(f, key)).map(([, name]) => name))];
  return found.length > 1 ? found : [];
}
