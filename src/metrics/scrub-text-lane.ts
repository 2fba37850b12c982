/**
 * The scrub pipeline's fast lane, for the common case: a body in the text format 0.0.4
 * or in OpenMetrics, in ASCII, written compactly (one space between tokens, no blanks in
 * label sets, no escapes, no timestamps or exemplars, no comments but HELP and TYPE and
 * OpenMetrics' `# EOF`; of OpenMetrics' types counter, gauge, histogram, summary and
 * unknown), scrubbed into the text format or OpenMetrics. Most exporters write exactly
 * that.
 *
 * It decides nothing in doubt. On anything outside that subset, and on anything the
 * parser would refuse or the scrubber would have to look at twice (an invalid line, a
 * limit reached, two series whose label-set fingerprints match, which may be a duplicate
 * or a collision, a value or a name clash that makes serialize.ts render a family
 * otherwise in OpenMetrics), it gives up: `scrubTextLane` returns undefined, and the general
 * pipeline (scrub-pipeline.ts) runs on the same body from the start, and decides. So it
 * never reports an error and never drops a scrape. What it accepts, it renders in one
 * pass straight from the scraped text: the same bytes and statistics as the general
 * pipeline, which a differential test (scrub-text-lane.test.ts) holds it to on valid,
 * edited and hostile bodies. Its checks are the parser's for that subset (parse-text.ts,
 * parse-openmetrics.ts, parse-families.ts), its scrub is `ScrubRun`'s (scrub-run.ts) with the rules of
 * scrub-rules.ts, and its rendering serialize.ts's; when one of those
 * changes, this lane must change with it, or give up on the case.
 *
 * Why it is faster (docs/metrics.md): the body is never decoded into a string; no label
 * string is made for what is dropped or kept as is (only positions in the body), no
 * object per sample, no model; a line is copied in a few runs; and every series is
 * fingerprinted once, 64 bits (its scrubbed set for allowed families, whose match covers
 * a duplicate too; its input set for the others), instead of twice.
 */
import { isAscii } from 'node:buffer';
import type { LabelHasher } from './hash.ts';
import type { ExpositionFormat, MetricType } from './model.ts';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from './parse-limits.ts';
import { isLabelNameChar, isLabelNameStart, isMetricName, isMetricNameChar, isMetricNameStart, skipBlanks, tokenEnd } from './parse-lexer.ts';
import { NUM_FINITE, NUM_INVALID, NUM_NAN, NUM_POS_INF, classifyNumber, labelNumber } from './parse-numbers.ts';
import { TEXT_TYPES } from './parse-text.ts';
import {
  OM_SUFFIXES,
  ROLE_BUCKET,
  ROLE_COUNT,
  ROLE_CREATED,
  ROLE_QUANTILE,
  ROLE_SUM,
  ROLE_TOTAL,
  ROLE_VALUE,
  TEXT_SUFFIXES,
  sampleSuffixes,
  structuralLabelOf,
} from './parse-types.ts';
import type { FamilyRule, LabelAction, ScrubPolicy } from './policy.ts';
import { type ScrubStats, emptyScrubStats, labelActionOf } from './scrub-run.ts';
import { scrubRuleFor } from './scrub-rules.ts';
import { FingerprintIndex, stringHash } from './label-key.ts';

const CH_TAB = 9;
const CH_LF = 10;
const CH_SPACE = 32;
const CH_QUOTE = 34;
const CH_DOT = 46;
const CH_HASH = 35;
const CH_COMMA = 44;
const CH_EQ = 61;
const CH_LBRACE = 123;
const CH_RBRACE = 125;
const CH_UNDERSCORE = 95;
const CH_BACKSLASH = 92;

/** Labels on one line the lane takes at most, whatever the limit (which may be raised far above). */
const MAX_LANE_LABELS = 256;

/**
 * The OpenMetrics types the lane takes. Not info, stateset or gaugehistogram (rarer, and
 * rendered otherwise in the text format), nor UNIT lines: the general path's.
 */
const LANE_OM_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'unknown']);

/** The longest hash a policy keeps (hex characters). */
const MAX_HASH_LENGTH = 64;

/** Series of a family with equal low fingerprint halves the lane compares before it gives up. */
const MAX_CHAIN = 16;

const SEEN_SUM = 1;
const SEEN_COUNT = 2;
const SEEN_CREATED = 4;
const SEEN_TOTAL = 8;

const ACTION_KEEP = 0;
const ACTION_HASH = 1;
const ACTION_DROP = 2;

/** What the lane produced: the rendered text and the statistics, as the general pipeline's. */
export interface LaneResult {
  readonly body: Buffer;
  readonly stats: ScrubStats;
}

/**
 * Whether a body may take the lane at all: ASCII (so its bytes are its characters, and
 * valid UTF-8), no backslash (no escapes) and no tab (blanks are spaces); and whether
 * the hasher hashes bytes (`createLabelHasher`'s does).
 */
export function laneCandidate(body: Uint8Array, hasher: LabelHasher): boolean {
  return hasher.hashInto !== undefined && isAscii(body) && body.indexOf(CH_BACKSLASH) < 0 && body.indexOf(CH_TAB) < 0;
}

/**
 * Scrubs the body `bytes` in `inputFormat` (within the size limit, and a
 * `laneCandidate`) under `policy` into `format`, or gives up (undefined): then nothing it did
 * counts but the hasher's cache, which `hasher.restartScrape` rewinds. The body is read
 * as bytes, never decoded as a whole: what is kept is copied byte for byte.
 */
export function scrubTextLane(bytes: Uint8Array, limits: ParseLimits, policy: ScrubPolicy, hasher: LabelHasher, format: ExpositionFormat, inputFormat: ExpositionFormat = 'text'): LaneResult | undefined {
  // Taken while it runs, so that a lane is never used by two scrapes at once.
  const lane = idleLane ?? new Lane();
  idleLane = undefined;
  try {
    lane.start(bytes, limits, policy, hasher, inputFormat === 'openmetrics', format === 'openmetrics');
    return lane.run();
  } finally {
    lane.release();
    idleLane = lane;
  }
}

/**
 * One lane, reused from scrape to scrape, emptied in between. Kept alive so that its
 * hidden class (V8's map of its fields) survives the garbage collections between
 * scrapes: when no instance holds it, the collector may drop it, and the machine code
 * compiled for it is thrown away and compiled again on every scrape (measured: the lane
 * then ran 2 to 3 times slower).
 */
let idleLane: Lane | undefined;

interface LaneFamily {
  readonly name: string;
  type: MetricType;
  typeSet: boolean;
  help: string | undefined;
  helpSet: boolean;
  /** Canonical sample names and their roles, by type. */
  sampleNames: string[];
  roles: number[];
  /** `le` or `quantile` by type, else undefined. */
  structural: string | undefined;
  /** Several samples per series (histogram, summary). */
  multi: boolean;
  samples: number;
  /** Series so far. */
  groups: number;
}

const EMPTY_BUFFER = Buffer.alloc(0);
const EMPTY_VIEW: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(bytes: Uint8Array): DataView<ArrayBufferLike> {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Ends the lane: the general pipeline decides. One instance, made once (no stack per throw). */
class GiveUp extends Error {}
const GIVE_UP = new GiveUp('the fast lane gave up');

function giveUp(): never {
  throw GIVE_UP;
}

class Lane {
  #bytes: Buffer = EMPTY_BUFFER;
  #limits: ParseLimits = DEFAULT_PARSE_LIMITS;
  #policy: ScrubPolicy | undefined;
  #hasher: LabelHasher | undefined;
  stats = emptyScrubStats();
  #totalKept = 0;

  /** The body is OpenMetrics (else the text format). */
  #inOm = false;
  // Output: text, or (`#om`) OpenMetrics, as serialize.ts renders a family there.
  #om = false;
  /** Every family written: its name in the scraped text, and its name and type as rendered. */
  #rendered: Array<{ readonly textName: string; readonly name: string; readonly type: MetricType; readonly renamed: boolean }> = [];
  #buf = EMPTY_BUFFER;
  /** Views of the output and the body, for copyRun (and `#hashesView` of `#hashes`). */
  #bufView = EMPTY_VIEW;
  #bytesView = EMPTY_VIEW;
  #pos = 0;

  // Families.
  #claims = new Map<string, LaneFamily>();
  #familyCount = 0;
  #sampleCount = 0;
  #cur: LaneFamily | undefined;

  // The current family's scrub, set at its first sample.
  #begun = false;
  #rule: FamilyRule | undefined;
  #createdOf = false;
  #cap = 0;
  #dropCreated = false;
  /** A text counter `x_total` rendered as OpenMetrics counter `x` (serialize.ts toOpenMetrics). */
  #renamedCounter = false;
  #familyKept = 0;
  #keptSamples = 0;
  #headerDone = false;
  #actionNames: string[] = [];
  #actions: number[] = [];
  #fingerprints = new FingerprintIndex();
  /** Per series of the family: the high half of its fingerprint (`#record`). */
  #highs = new Int32Array(256);

  // The current line's labels: names, and where each value starts and ends in the body.
  #n = 0;
  #names: string[] = [];
  #vs = new Int32Array(DEFAULT_PARSE_LIMITS.maxLabelsPerSeries + 1);
  #ve = new Int32Array(DEFAULT_PARSE_LIMITS.maxLabelsPerSeries + 1);
  /** Index of the structural pair of the line, or -1. */
  #skip = -1;
  /** Labels a line may have in the lane: the limit, or MAX_LANE_LABELS if lower. */
  #maxLabels = DEFAULT_PARSE_LIMITS.maxLabelsPerSeries;
  /** Where the line's closing brace is, or -1 (no labels). */
  #close = -1;
  /**
   * How many of `#names`, from the first, are known distinct: the names of the last line
   * that wrote any. A line whose names start like them reuses those without a check.
   */
  #distinct = 0;

  // The open series (group) of a multi-sample family.
  #groupOpen = false;
  #groupNames: string[] = [];
  #groupVs = new Int32Array(DEFAULT_PARSE_LIMITS.maxLabelsPerSeries + 1);
  #groupVe = new Int32Array(DEFAULT_PARSE_LIMITS.maxLabelsPerSeries + 1);
  #groupSkip = -1;
  #groupSeen = 0;
  #groupLastLe = -Infinity;
  /** The open series' last bucket count, and its count (-1: none yet), for OpenMetrics' rules. */
  #groupLastBucket = 0;
  #groupCount = -1;
  #groupQuantiles = new Set<number>();
  /** Structural values seen in the open series so far; the last texts and numbers at each place. */
  #groupOrdinal = 0;
  #ordinalTexts: string[] = [];
  #ordinalNumbers: number[] = [];
  /** Whether the open series leaves; where its rendered labels (no braces) are in the output. */
  #groupAdmitted = false;
  /** Where the line that opened the open series starts in the body. */
  #groupFirstLine = -1;
  #groupLabelsAt = 0;
  #groupLabelsEnd = -1;
  /** The open series' hashed values, at MAX_HASH_LENGTH bytes a label position. */
  #hashes = Buffer.alloc((DEFAULT_PARSE_LIMITS.maxLabelsPerSeries + 1) * MAX_HASH_LENGTH);
  #hashesView = viewOf(this.#hashes);

  /** Sets the lane up for one scrape: every field, so that a reused lane keeps no state. */
  start(bytes: Uint8Array, limits: ParseLimits, policy: ScrubPolicy, hasher: LabelHasher, inOm: boolean, om: boolean): void {
    this.#inOm = inOm;
    this.#om = om;
    this.#rendered = [];
    this.#bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#bytesView = viewOf(bytes);
    this.#limits = limits;
    this.#policy = policy;
    this.#hasher = hasher;
    this.stats = emptyScrubStats();
    this.#totalKept = 0;
    // The scrubbed text is rarely longer than the scraped one: start at its size.
    this.#buf = Buffer.allocUnsafe(Math.max(1024, bytes.byteLength));
    this.#bufView = viewOf(this.#buf);
    this.#pos = 0;
    this.#claims.clear();
    this.#familyCount = 0;
    this.#sampleCount = 0;
    this.#cur = undefined;
    this.#begun = false;
    this.#rule = undefined;
    this.#n = 0;
    this.#skip = -1;
    this.#distinct = 0;
    this.#groupOpen = false;
    // Room for the labels a line may have, up to the lane's own bound: a line with more
    // than that (allowed by a raised limit) is the general path's.
    this.#maxLabels = Math.min(limits.maxLabelsPerSeries, MAX_LANE_LABELS);
    if (this.#vs.length <= this.#maxLabels) {
      const size = this.#maxLabels + 1;
      this.#vs = new Int32Array(size);
      this.#ve = new Int32Array(size);
      this.#groupVs = new Int32Array(size);
      this.#groupVe = new Int32Array(size);
      this.#hashes = Buffer.alloc(size * MAX_HASH_LENGTH);
      this.#hashesView = viewOf(this.#hashes);
    }
  }

  run(): LaneResult | undefined {
    this.#hasher!.beginScrape?.();
    try {
      this.#lines();
      this.#endRender();
    } catch (err) {
      if (err === GIVE_UP) return undefined;
      throw err;
    }
    const stats = this.stats;
    stats.droppedSeries = stats.droppedSeriesNotAllowed + stats.droppedSeriesFamilyCap + stats.droppedSeriesTotalCap + stats.droppedSeriesCollision;
    const used = this.#buf.subarray(0, this.#pos);
    return { body: this.#pos < this.#buf.length * 0.75 ? Buffer.from(used) : used, stats };
  }

  /** Lets go of the scrape (body, output, policy, hasher, families); the object stays, reusable. */
  release(): void {
    this.#bytes = EMPTY_BUFFER;
    this.#buf = EMPTY_BUFFER;
    this.#bytesView = EMPTY_VIEW;
    this.#bufView = EMPTY_VIEW;
    this.#policy = undefined;
    this.#hasher = undefined;
    this.#claims.clear();
    this.#rendered = [];
    this.#cur = undefined;
    this.#rule = undefined;
    this.#names = [];
    this.#groupNames = [];
    this.#ordinalTexts = [];
    this.#ordinalNumbers = [];
    this.#actionNames = [];
    this.#fingerprints = new FingerprintIndex();
  }

  #lines(): void {
    const bytes = this.#bytes;
    const length = bytes.length;
    if (length > 0 && bytes[length - 1] !== CH_LF) giveUp();
    const maxLine = this.#limits.maxLineLength;
    const inOm = this.#inOm;
    let pos = 0;
    while (pos < length) {
      const eol = bytes.indexOf(CH_LF, pos);
      if (eol - pos > maxLine) giveUp();
      if (eol > pos) {
        const c = bytes[pos];
        if (c === CH_HASH) {
          if (inOm && eol - pos === 5 && startsWith(bytes, pos, '# EOF')) {
            // OpenMetrics ends there, and nothing may follow.
            if (eol + 1 !== length) giveUp();
            this.#endFamily();
            return;
          }
          this.#comment(pos, eol);
        } else if (c === CH_SPACE) giveUp();
        else this.#sample(pos, eol);
      } else if (inOm) {
        giveUp();
      }
      pos = eol + 1;
    }
    // OpenMetrics without `# EOF` is refused.
    if (inOm) giveUp();
    this.#endFamily();
  }

  /** `# HELP name text` or `# TYPE name type`; any other comment gives up. */
  #comment(from: number, eol: number): void {
    // Once or twice per family: as a string of its own, positions relative to it.
    const text = latin1(this.#bytes, from, eol);
    eol = text.length;
    const help = text.startsWith('# HELP ');
    if (!help && !text.startsWith('# TYPE ')) giveUp();
    const inOm = this.#inOm;
    let p = 7;
    const nameEnd = tokenEnd(text, p, eol, inOm);
    const name = text.slice(p, nameEnd);
    if (!isMetricName(name) || name.length > this.#limits.maxNameLength) giveUp();
    const family = this.#familyForMetadata(name);
    // The text format allows blanks before the rest; OpenMetrics has one space, or none
    // before an empty rest (parse-openmetrics.ts descriptor).
    p = inOm ? (nameEnd === eol ? eol : nameEnd + 1) : skipBlanks(text, nameEnd, eol);
    if (help) {
      if (family.helpSet) giveUp();
      family.helpSet = true;
      const helpText = text.slice(p, eol);
      family.help = inOm && helpText === '' ? undefined : helpText;
      return;
    }
    let type: string;
    if (inOm) {
      if (nameEnd === eol) giveUp();
      type = text.slice(p, eol);
      if (!LANE_OM_TYPES.has(type)) giveUp();
    } else {
      const typeEnd = tokenEnd(text, p, eol, false);
      type = text.slice(p, typeEnd);
      if (!TEXT_TYPES.has(type) || skipBlanks(text, typeEnd, eol) !== eol) giveUp();
    }
    if (family.typeSet) giveUp();
    const table = (inOm ? OM_SUFFIXES : TEXT_SUFFIXES)[type as MetricType]!;
    family.type = type as MetricType;
    family.typeSet = true;
    family.multi = type === 'histogram' || type === 'summary' || (inOm && type === 'counter');
    family.structural = structuralLabelOf(family.type);
    family.sampleNames = table.map(([suffix]) => name + suffix);
    family.roles = table.map(([, role]) => role);
    for (const sampleName of family.sampleNames) {
      const owner = this.#claims.get(sampleName);
      if (owner !== undefined && owner !== family) giveUp();
      this.#claims.set(sampleName, family);
    }
  }

  #familyForMetadata(name: string): LaneFamily {
    const cur = this.#cur;
    if (cur !== undefined && cur.name === name) {
      if (cur.samples > 0) giveUp();
      return cur;
    }
    if (this.#claims.has(name)) giveUp();
    return this.#newFamily(name);
  }

  #newFamily(name: string): LaneFamily {
    this.#endFamily();
    if (this.#familyCount >= this.#limits.maxFamilies) giveUp();
    this.#familyCount++;
    const family: LaneFamily = {
      name,
      type: this.#inOm ? 'unknown' : 'untyped',
      typeSet: false,
      help: undefined,
      helpSet: false,
      sampleNames: [name],
      roles: [ROLE_VALUE],
      structural: undefined,
      multi: false,
      samples: 0,
      groups: 0,
    };
    this.#claims.set(name, family);
    this.#cur = family;
    this.#begun = false;
    this.#groupOpen = false;
    return family;
  }

  /** The current family's scrub begins (its metadata is final): `ScrubRun.begin`. */
  #begin(family: LaneFamily): void {
    const { rule, createdOf } = scrubRuleFor(this.#policy!, family, this.#inOm ? 'openmetrics' : 'text');
    this.#begun = true;
    this.#rule = rule;
    this.#createdOf = createdOf;
    this.#cap = rule === undefined ? 0 : (rule.maxSeries ?? this.#policy!.maxSeriesPerFamily);
    // `_created` samples (OpenMetrics) leave only when the rule says so (ScrubRun.end).
    const type = family.type;
    this.#dropCreated = rule !== undefined && !rule.created && (type === 'counter' || type === 'histogram' || type === 'summary');
    this.#renamedCounter = this.#om && !this.#inOm && type === 'counter' && family.name.endsWith('_total') && family.name.length > 6;
    this.#familyKept = 0;
    this.#keptSamples = 0;
    this.#headerDone = false;
    this.#actionNames = [];
    this.#actions = [];
    this.#fingerprints = new FingerprintIndex();
  }

  /** The current family ends: `ScrubRun.end`'s statistics (its samples were written as they came). */
  #endFamily(): void {
    const family = this.#cur;
    if (family === undefined) return;
    this.#closeGroup();
    this.#cur = undefined;
    if (!this.#begun) this.#begin(family);
    const stats = this.stats;
    const rule = this.#rule;
    if (rule === undefined) {
      if (this.#createdOf) stats.droppedCreatedSamples += family.groups;
      else {
        stats.droppedFamilies++;
        stats.droppedSeriesNotAllowed += family.groups;
      }
      return;
    }
    stats.keptSeries += this.#familyKept;
    if (this.#keptSamples === 0) return;
    if (family.help !== undefined && !rule.help) stats.droppedHelp++;
    stats.keptFamilies++;
    stats.keptSamples += this.#keptSamples;
  }

  #closeGroup(): void {
    if (!this.#groupOpen) return;
    const type = this.#cur!.type;
    // OpenMetrics: a counter has its `_total`, a histogram's count is its +Inf bucket.
    if (this.#inOm && type === 'counter' && (this.#groupSeen & SEEN_TOTAL) === 0) giveUp();
    if (type === 'histogram') {
      if (this.#groupLastLe !== Infinity) giveUp();
      if (this.#openMetricsRules() && this.#groupCount >= 0 && this.#groupCount !== this.#groupLastBucket) giveUp();
    }
    this.#groupOpen = false;
  }

  /** One sample line, `name{labels} value` or `name value`, at `bytes[p, eol)`. */
  #sample(p: number, eol: number): void {
    const bytes = this.#bytes;
    const limits = this.#limits;
    // The family: the current one's names first (parse-families.ts familyAt).
    let family = this.#cur;
    let role = -1;
    let sampleName = '';
    let q = -1;
    if (family !== undefined) {
      const names = family.sampleNames;
      for (let i = 0; i < names.length; i++) {
        const candidate = names[i]!;
        const e = p + candidate.length;
        if (e <= eol && startsWith(bytes, p, candidate) && !isMetricNameChar(bytes[e]!) && candidate.length <= limits.maxNameLength) {
          role = family.roles[i]!;
          sampleName = candidate;
          q = e;
          break;
        }
      }
    }
    if (q < 0) {
      if (!isMetricNameStart(bytes[p]!)) giveUp();
      let e = p + 1;
      while (e < eol && isMetricNameChar(bytes[e]!)) e++;
      if (e - p > limits.maxNameLength) giveUp();
      sampleName = latin1(bytes, p, e);
      if (this.#claims.has(sampleName)) giveUp();
      family = this.#newFamily(sampleName);
      role = ROLE_VALUE;
      q = e;
    }
    if (++this.#sampleCount > limits.maxSeries) giveUp();
    family = family!;

    // Labels, then one space and the value, which runs to the end of the line.
    this.#n = 0;
    this.#skip = -1;
    let c = bytes[q];
    this.#close = -1;
    if (c === CH_LBRACE) {
      q = this.#labels(q + 1, eol, family.structural);
      this.#close = q - 1;
      c = bytes[q];
    }
    if (c !== CH_SPACE) giveUp();
    // The value runs to the end of the line: a blank in it (a timestamp) makes it no number.
    const v = q + 1;
    const kind = numberKind(bytes, v, eol);
    if (kind === NUM_INVALID) giveUp();

    // Structural labels (parse-families.ts addSample).
    const skip = this.#skip;
    if (skip >= 0) {
      const structural = family.structural!;
      if (structural === 'le' ? role !== ROLE_BUCKET : role !== ROLE_QUANTILE) giveUp();
    } else if (role === ROLE_BUCKET || role === ROLE_QUANTILE) {
      giveUp();
    }

    if (!this.#begun) this.#begin(family);
    family.samples++;
    if (!family.multi || !this.#sameGroup()) {
      this.#closeGroup();
      this.#newGroup(family);
      this.#groupFirstLine = p;
    }
    this.#checkValue(role, kind, v, eol);
    if (!this.#groupAdmitted) return;
    if (role === ROLE_CREATED) {
      // An OpenMetrics `_created` sample: it leaves only under `created: true`, and then only
      // in OpenMetrics (in the text format it would make a gauge family of its own).
      if (this.#dropCreated) {
        this.stats.droppedCreatedSamples++;
        return;
      }
      if (!this.#om) giveUp();
    }
    // The series' labels are rendered from the line that opened it: its label actions and
    // hashes are stored by position in that line (`#newGroup`), and another line of the
    // series may hold its labels in another order (the structural one elsewhere). So a
    // series whose first line did not leave (a withheld `_created` sample) is the
    // general path's.
    if (this.#groupLabelsEnd < 0 && p !== this.#groupFirstLine) giveUp();
    this.#write(family, p, sampleName, kind, v, eol);
  }

  /**
   * Scans `name="value",…}` from `p` (after the brace): compact, no escapes. Sets the
   * line's names and value positions; the position after `}`.
   */
  #labels(p: number, eol: number, structural: string | undefined): number {
    const bytes = this.#bytes;
    const limits = this.#limits;
    const names = this.#names;
    const vs = this.#vs;
    const ve = this.#ve;
    const max = this.#maxLabels;
    let n = 0;
    // Every name equal to the previous line's at its position: known valid and distinct.
    let same = true;
    if (bytes[p] === CH_RBRACE) return p + 1;
    for (;;) {
      if (n >= max) giveUp();
      const previous = names[n];
      let nameEnd: number;
      if (same && n < this.#distinct && previous !== undefined && startsWith(bytes, p, previous) && bytes[p + previous.length] === CH_EQ) {
        nameEnd = p + previous.length;
      } else {
        same = false;
        if (!isLabelNameStart(bytes[p]!)) giveUp();
        nameEnd = p + 1;
        while (nameEnd < eol && isLabelNameChar(bytes[nameEnd]!)) nameEnd++;
        if (nameEnd - p > limits.maxLabelNameLength) giveUp();
        if (bytes[p] === CH_UNDERSCORE && bytes[p + 1] === CH_UNDERSCORE && nameEnd - p > 1) giveUp();
        const name = latin1(bytes, p, nameEnd);
        for (let i = 0; i < n; i++) if (names[i] === name) giveUp();
        names[n] = name;
        if (bytes[nameEnd] !== CH_EQ) giveUp();
      }
      if (bytes[nameEnd + 1] !== CH_QUOTE) giveUp();
      const s = nameEnd + 2;
      // A loop, not indexOf: values are short, shorter than a native call costs.
      let e = s;
      while (e < eol && bytes[e] !== CH_QUOTE) e++;
      if (e >= eol || e - s > limits.maxLabelValueLength) giveUp();
      vs[n] = s;
      ve[n] = e;
      if (names[n] === structural) this.#skip = n;
      n++;
      const c = bytes[e + 1];
      if (c === CH_COMMA) {
        p = e + 2;
        continue;
      }
      if (c !== CH_RBRACE) giveUp();
      this.#n = n;
      // New names were checked against this line's others: these n are distinct (the
      // names past them, from an earlier line, may not be distinct from them).
      if (!same) this.#distinct = n;
      return e + 2;
    }
  }

  /** Whether the line continues the open series: the same labels but the structural one, position by position. */
  #sameGroup(): boolean {
    if (!this.#groupOpen) return false;
    const n = this.#n;
    const skip = this.#skip;
    const groupNames = this.#groupNames;
    const groupSkip = this.#groupSkip;
    if ((skip < 0 ? n : n - 1) !== (groupSkip < 0 ? groupNames.length : groupNames.length - 1)) return false;
    const bytes = this.#bytes;
    const names = this.#names;
    const groupVs = this.#groupVs;
    const groupVe = this.#groupVe;
    let j = 0;
    for (let i = 0; i < n; i++) {
      if (i === skip) continue;
      if (j === groupSkip) j++;
      if (names[i] !== groupNames[j] || !sameBytes(bytes, this.#vs[i]!, this.#ve[i]!, groupVs[j]!, groupVe[j]!)) return false;
      j++;
    }
    return true;
  }

  /** A new series: its checks, its scrubbed labels, its fingerprint, and whether it leaves. */
  #newGroup(family: LaneFamily): void {
    family.groups++;
    const bytes = this.#bytes;
    const n = this.#n;
    const names = this.#names;
    const vs = this.#vs;
    const ve = this.#ve;
    const skip = this.#skip;
    if (family.multi) {
      this.#groupOpen = true;
      this.#groupSeen = 0;
      this.#groupLastLe = -Infinity;
      this.#groupQuantiles.clear();
      this.#groupOrdinal = 0;
      this.#groupLastBucket = 0;
      this.#groupCount = -1;
      this.#groupSkip = skip;
      // The first line's labels stay where they are in the body: names and value positions.
      const groupNames = this.#groupNames;
      groupNames.length = n;
      for (let i = 0; i < n; i++) groupNames[i] = names[i]!;
      const groupVs = this.#groupVs;
      const groupVe = this.#groupVe;
      for (let i = 0; i < n; i++) {
        groupVs[i] = vs[i]!;
        groupVe[i] = ve[i]!;
      }
    }
    this.#groupLabelsEnd = -1;
    const rule = this.#rule;
    if (rule === undefined) {
      // Not allowed: only the parser's duplicate check, on the input set.
      let low = skip < 0 ? n : n - 1;
      let high = low;
      for (let i = 0; i < n; i++) {
        if (i === skip) continue;
        const name = names[i]!;
        const value = bytesHash(bytes, vs[i]!, ve[i]!);
        const second = secondHash;
        low = (low + pairLow(name, value)) | 0;
        high = (high + pairHigh(name, second)) | 0;
      }
      this.#record(family.groups - 1, low, high);
      this.#groupAdmitted = false;
      return;
    }
    // Allowed: the scrubbed set (ScrubRun #firstSample), fingerprinted; a match may be a
    // duplicate input series or a collision: the general pipeline tells which.
    const structural = family.structural;
    const hashes = this.#hashes;
    const hashLength = this.#hasher!.length;
    let count = 0;
    let low = 0;
    let high = 0;
    let dropped = 0;
    let hashed = 0;
    for (let i = 0; i < n; i++) {
      const name = names[i]!;
      if (name === structural) continue;
      const action = this.#actionOf(i, name);
      if (action === ACTION_KEEP) {
        const value = bytesHash(bytes, vs[i]!, ve[i]!);
        const second = secondHash;
        low = (low + pairLow(name, value)) | 0;
        high = (high + pairHigh(name, second)) | 0;
        count++;
      } else if (action === ACTION_HASH) {
        const at = i * MAX_HASH_LENGTH;
        this.#hasher!.hashInto!(bytes, vs[i]!, ve[i]!, hashes, at);
        const value = bytesHash(hashes, at, at + hashLength);
        const second = secondHash;
        low = (low + pairLow(name, value)) | 0;
        high = (high + pairHigh(name, second)) | 0;
        count++;
        hashed++;
      } else {
        dropped++;
      }
    }
    this.#record(family.groups - 1, (low + count) | 0, (high + count) | 0);
    // Admission in order of appearance under the caps (ScrubRun.end, pass 2): without
    // collisions in the family, the same decisions as there.
    const stats = this.stats;
    if (this.#familyKept >= this.#cap) {
      stats.droppedSeriesFamilyCap++;
      this.#groupAdmitted = false;
    } else if (this.#totalKept >= this.#policy!.maxSeries) {
      stats.droppedSeriesTotalCap++;
      this.#groupAdmitted = false;
    } else {
      this.#familyKept++;
      this.#totalKept++;
      stats.droppedLabels += dropped;
      stats.hashedValues += hashed;
      this.#groupAdmitted = true;
    }
  }

  /**
   * Records a series' 64-bit fingerprint (two 32-bit halves, from independent hashes).
   * Equal sets have equal fingerprints; a series whose fingerprint equals an earlier
   * one's is a duplicate, a collision, or (about one chance in 2^64 per pair of
   * series) neither: the lane gives up, and the general pipeline compares the sets
   * themselves. (On the low half alone, a family of 40,000 series would match by chance
   * on one scrape in five.) The chains of equal low halves are walked a bounded number
   * of steps: values made to collide on them cost the lane, never the general pipeline.
   */
  #record(series: number, low: number, high: number): void {
    if (series === this.#highs.length) {
      const grown = new Int32Array(series * 2);
      grown.set(this.#highs);
      this.#highs = grown;
    }
    this.#highs[series] = high;
    const fingerprints = this.#fingerprints;
    let steps = 0;
    for (let j = fingerprints.record(low, series); j >= 0; j = fingerprints.previous(j)) {
      if (this.#highs[j] === high || ++steps > MAX_CHAIN) giveUp();
    }
  }

  #actionOf(slot: number, name: string): number {
    if (this.#actionNames[slot] === name) return this.#actions[slot]!;
    const action: LabelAction = labelActionOf(this.#policy!, this.#rule!, name);
    const code = action === 'keep' ? ACTION_KEEP : action === 'hash' ? ACTION_HASH : ACTION_DROP;
    this.#actionNames[slot] = name;
    this.#actions[slot] = code;
    return code;
  }

  /**
   * Whether the open series is held to OpenMetrics' value rules: it was read from
   * OpenMetrics (the parser's rules), or it is written as OpenMetrics (serialize.ts would
   * render a family that breaks them otherwise: histogramFitsOpenMetrics,
   * summaryFitsOpenMetrics). The rules: whole bucket counts that never fall, a whole
   * count equal to the +Inf bucket (`#closeGroup`), no negative quantile value.
   */
  #openMetricsRules(): boolean {
    return this.#inOm || (this.#om && this.#groupAdmitted);
  }

  /** The per-role value rules (parse-families.ts checkValue), and those of OpenMetrics. */
  #checkValue(role: number, kind: number, v: number, eol: number): void {
    switch (role) {
      case ROLE_VALUE:
        // A counter renamed for OpenMetrics stays a counter only if no value is negative or NaN.
        if (this.#renamedCounter && this.#groupAdmitted && !(valueOf(this.#bytes, kind, v, eol) >= 0)) giveUp();
        return;
      case ROLE_BUCKET: {
        const le = this.#structuralNumber();
        if (Number.isNaN(le) || le <= this.#groupLastLe) giveUp();
        this.#groupLastLe = le;
        const value = kind === NUM_FINITE ? numberValue(this.#bytes, v, eol) : NaN;
        if (!(value >= 0) || value === Infinity) giveUp();
        if (this.#openMetricsRules()) {
          if (!Number.isInteger(value) || value < this.#groupLastBucket) giveUp();
          this.#groupLastBucket = value;
        }
        return;
      }
      case ROLE_QUANTILE: {
        const q = this.#structuralNumber();
        if (!(q >= 0 && q <= 1) || this.#groupQuantiles.has(q)) giveUp();
        this.#groupQuantiles.add(q);
        if (this.#openMetricsRules() && valueOf(this.#bytes, kind, v, eol) < 0) giveUp();
        return;
      }
      case ROLE_COUNT: {
        if ((this.#groupSeen & SEEN_COUNT) !== 0) giveUp();
        this.#groupSeen |= SEEN_COUNT;
        const value = kind === NUM_FINITE ? numberValue(this.#bytes, v, eol) : NaN;
        if (!(value >= 0) || value === Infinity) giveUp();
        if (this.#openMetricsRules()) {
          if (!Number.isInteger(value)) giveUp();
          this.#groupCount = value;
        }
        return;
      }
      case ROLE_SUM:
        if ((this.#groupSeen & SEEN_SUM) !== 0) giveUp();
        this.#groupSeen |= SEEN_SUM;
        return;
      case ROLE_TOTAL:
        if ((this.#groupSeen & SEEN_TOTAL) !== 0) giveUp();
        this.#groupSeen |= SEEN_TOTAL;
        if (!(valueOf(this.#bytes, kind, v, eol) >= 0)) giveUp();
        return;
      case ROLE_CREATED:
        if ((this.#groupSeen & SEEN_CREATED) !== 0) giveUp();
        this.#groupSeen |= SEEN_CREATED;
        return;
      default:
        giveUp();
    }
  }

  /**
   * `labelNumber` of the line's `le` or `quantile` value. Every series of a family mostly
   * repeats one list of them: the number is remembered by the value's place in its series.
   */
  #structuralNumber(): number {
    const skip = this.#skip;
    const s = this.#vs[skip]!;
    const e = this.#ve[skip]!;
    const k = this.#groupOrdinal++;
    const known = this.#ordinalTexts[k];
    if (known !== undefined && known.length === e - s && startsWith(this.#bytes, s, known)) return this.#ordinalNumbers[k]!;
    const text = latin1(this.#bytes, s, e);
    const number = labelNumber(text);
    this.#ordinalTexts[k] = text;
    this.#ordinalNumbers[k] = number;
    return number;
  }

  /** HELP and TYPE before a family's first written sample, in the output's format and terms. */
  #header(family: LaneFamily): void {
    this.#headerDone = true;
    const help = family.help !== undefined && this.#rule!.help ? family.help : undefined;
    let name = family.name;
    let type: MetricType = family.type;
    let renamed = false;
    if (!this.#om) {
      // serialize.ts toText, from OpenMetrics: counter `x` is `x_total` (its `_created`
      // samples would make a family of their own: the general path's), unknown is untyped.
      if (this.#inOm && type === 'counter') name = `${name}_total`;
      else if (type === 'unknown') type = 'untyped';
      this.#rendered.push({ textName: family.name, name, type, renamed: false });
      this.#putString(`${help === undefined ? '' : `# HELP ${name} ${help}\n`}# TYPE ${name} ${type}\n`);
      return;
    }
    // serialize.ts toOpenMetrics, from the text format: untyped is unknown; a counter
    // `x_total` is counter `x` (checked at the end against the other families,
    // `#endRender`); one without `_total` is unknown. An OpenMetrics family stays as it
    // is. A quote in HELP would need an escape: the general path.
    if (!this.#inOm) {
      if (type === 'untyped') type = 'unknown';
      else if (this.#renamedCounter) {
        name = name.slice(0, -6);
        renamed = true;
      } else if (type === 'counter') {
        type = 'unknown';
      }
    }
    if (help !== undefined && help.includes('"')) giveUp();
    this.#rendered.push({ textName: family.name, name, type, renamed });
    this.#putString(`# TYPE ${name} ${type}\n${help === undefined ? '' : `# HELP ${name} ${help}\n`}`);
  }

  /**
   * The rest of serialize.ts's rendering, over the families written. In OpenMetrics: a
   * renamed counter keeps its `x` name only when no family is called `x` or
   * `x_created`; a histogram or summary `h` beside a gauge `h_created` would have the
   * gauge folded in. In both formats: no two families may claim a sample name
   * (checkNames). Any of these: the general path. Then, in OpenMetrics, `# EOF`.
   */
  #endRender(): void {
    const om = this.#om;
    const taken = new Set(this.#rendered.map((f) => f.textName));
    const claims = new Set<string>();
    for (const f of this.#rendered) {
      if (om && f.renamed && (taken.has(f.name) || taken.has(`${f.name}_created`))) giveUp();
      if (om && (f.type === 'histogram' || f.type === 'summary') && taken.has(`${f.name}_created`)) giveUp();
      for (const claimed of new Set([f.name, ...sampleSuffixes(om ? 'openmetrics' : 'text', f.type).map((suffix) => f.name + suffix)])) {
        if (claims.has(claimed)) giveUp();
        claims.add(claimed);
      }
    }
    if (om) this.#putString('# EOF\n');
  }

  /** Writes a sample of an admitted series (and, before the family's first, its HELP and TYPE). */
  #write(family: LaneFamily, p: number, sampleName: string, kind: number, v: number, eol: number): void {
    if (!this.#headerDone) this.#header(family);
    this.#keptSamples++;
    const n = this.#n;
    const skip = this.#skip;
    // Room for the whole line: no output is longer than its input line, but hashes and the
    // copied labels of the series.
    const labelsLength = this.#groupLabelsEnd < 0 ? 0 : this.#groupLabelsEnd - this.#groupLabelsAt;
    let worst = sampleName.length + (eol - v) + labelsLength + 16;
    if (this.#groupLabelsEnd < 0) {
      for (let i = 0; i < n; i++) worst += this.#names[i]!.length + (this.#ve[i]! - this.#vs[i]!) + this.#hasher!.length + 4;
    } else if (skip >= 0) {
      worst += this.#names[skip]!.length + (this.#ve[skip]! - this.#vs[skip]!) + 4;
    }
    if (this.#pos + worst > this.#buf.length) this.#grow(worst);
    const buf = this.#buf;
    const nameEnd = p + sampleName.length;
    const close = this.#close;
    let pos: number;
    if (close < 0) {
      // `name value`: no labels, so no structural one either.
      pos = copyRun(this.#bufView, this.#pos, this.#bytesView, p, nameEnd);
      if (this.#groupLabelsEnd < 0) this.#groupLabelsAt = this.#groupLabelsEnd = pos;
      this.#pos = this.#tail(buf, pos, kind, v - 1, v, eol);
      return;
    }
    // Most of a line is copied as the line has it, in as few pieces as it can: the name
    // and its brace, runs of kept labels that are next to each other, the rest of the line.
    let labelsEmpty: boolean;
    if (this.#groupLabelsEnd < 0) {
      pos = this.#firstLabels(family, p, nameEnd);
      labelsEmpty = this.#groupLabelsEnd === this.#groupLabelsAt;
    } else {
      pos = copyRun(this.#bufView, this.#pos, this.#bytesView, p, nameEnd + 1);
      pos = copyRun(this.#bufView, pos, this.#bufView, this.#groupLabelsAt, this.#groupLabelsEnd);
      labelsEmpty = this.#groupLabelsEnd === this.#groupLabelsAt;
    }
    if (skip >= 0) {
      const ls = this.#vs[skip]! - 2 - this.#names[skip]!.length;
      if (skip === n - 1) {
        // The structural label last in the line, as it is rendered: `,le="x"} value` from
        // the line (from the label itself when nothing comes before it).
        this.#pos = this.#tail(buf, pos, kind, labelsEmpty ? ls : ls - 1, v, eol);
        return;
      }
      if (!labelsEmpty) buf[pos++] = CH_COMMA;
      pos = copyRun(this.#bufView, pos, this.#bytesView, ls, this.#ve[skip]! + 1);
      buf[pos++] = CH_RBRACE;
      this.#pos = this.#tail(buf, pos, kind, v - 1, v, eol);
      return;
    }
    if (labelsEmpty) {
      // Every label dropped: no braces.
      this.#pos = this.#tail(buf, pos - 1, kind, v - 1, v, eol);
      return;
    }
    this.#pos = this.#tail(buf, pos, kind, close, v, eol);
  }

  /**
   * The end of a sample line: the line's bytes from `from` to its end when the value is
   * written as it is (`from` is where what remains to write starts in the line), else
   * up to the value, then the value's canonical spelling (NaN, +Inf, -Inf).
   */
  #tail(buf: Buffer, pos: number, kind: number, from: number, v: number, eol: number): number {
    if (kind === NUM_FINITE) return copyRun(this.#bufView, pos, this.#bytesView, from, eol + 1);
    pos = copyRun(this.#bufView, pos, this.#bytesView, from, v);
    const special = kind === NUM_NAN ? 'NaN' : kind === NUM_POS_INF ? '+Inf' : '-Inf';
    pos = putText(buf, pos, special, 0, special.length);
    buf[pos++] = CH_LF;
    return pos;
  }

  /**
   * A series' first written sample, up to its labels: `name{` and its scrubbed labels in
   * line order, which later samples of the series copy (`#groupLabelsAt`, `#groupLabelsEnd`).
   */
  #firstLabels(family: LaneFamily, p: number, nameEnd: number): number {
    const buf = this.#buf;
    const names = this.#names;
    const vs = this.#vs;
    const ve = this.#ve;
    const actions = this.#actions;
    const structural = family.structural;
    const hashLength = this.#hasher!.length;
    let pos = this.#pos;
    const labelsAt = pos + (nameEnd + 1 - p);
    // The pending run of the line to copy: first the name and its brace.
    let runStart = p;
    let runEnd = nameEnd + 1;
    for (let i = 0; i < this.#n; i++) {
      const name = names[i]!;
      const ls = vs[i]! - 2 - name.length;
      const action = name === structural ? ACTION_DROP : actions[i]!;
      if (action === ACTION_KEEP) {
        // Next to the run: right after the brace, or after a comma.
        if (runStart >= 0 && (ls === runEnd + 1 || (runStart === p && ls === runEnd))) {
          runEnd = ve[i]! + 1;
          continue;
        }
        if (runStart >= 0) pos = flush(buf, this.#bufView, pos, this.#bytesView, runStart, runEnd, runStart !== p && pos !== labelsAt);
        runStart = ls;
        runEnd = ve[i]! + 1;
        continue;
      }
      if (runStart >= 0) {
        pos = flush(buf, this.#bufView, pos, this.#bytesView, runStart, runEnd, runStart !== p && pos !== labelsAt);
        runStart = -1;
      }
      if (action === ACTION_HASH) {
        if (pos !== labelsAt) buf[pos++] = CH_COMMA;
        pos = copyRun(this.#bufView, pos, this.#bytesView, ls, vs[i]!);
        pos = copyRun(this.#bufView, pos, this.#hashesView, i * MAX_HASH_LENGTH, i * MAX_HASH_LENGTH + hashLength);
        buf[pos++] = CH_QUOTE;
      }
    }
    if (runStart >= 0) pos = flush(buf, this.#bufView, pos, this.#bytesView, runStart, runEnd, runStart !== p && pos !== labelsAt);
    this.#groupLabelsAt = labelsAt;
    this.#groupLabelsEnd = pos;
    return pos;
  }

  #putString(s: string): void {
    if (this.#pos + s.length > this.#buf.length) this.#grow(s.length);
    this.#pos = putText(this.#buf, this.#pos, s, 0, s.length);
  }

  #grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + needed));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
    this.#bufView = viewOf(next);
  }
}

/** The number a value of `kind` at `bytes[v, eol)` spells. */
function valueOf(bytes: Buffer, kind: number, v: number, eol: number): number {
  return kind === NUM_FINITE ? numberValue(bytes, v, eol) : kind === NUM_NAN ? NaN : kind === NUM_POS_INF ? Infinity : -Infinity;
}

/** Copies ASCII `s[from, to)` into `buf` at `pos`; the new position. */
function putText(buf: Buffer, pos: number, s: string, from: number, to: number): number {
  for (let i = from; i < to; i++) buf[pos++] = s.charCodeAt(i);
  return pos;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 48 && c <= 57;
}

/**
 * `classifyNumber` (parse-numbers.ts) of `bytes[s, e)`. Plain decimals (`42`, `0.25`),
 * most values, are told here; anything else is handed to it as a string.
 */
function numberKind(bytes: Buffer, s: number, e: number): number {
  if (e - s > 64) return NUM_INVALID;
  let i = s;
  while (i < e && isDigit(bytes[i])) i++;
  if (i > s && i < e && bytes[i] === CH_DOT) {
    i++;
    while (i < e && isDigit(bytes[i])) i++;
  }
  if (i === e && e > s) return NUM_FINITE;
  return classifyNumber(latin1(bytes, s, e), 0, e - s);
}

/** The number a finite value `bytes[s, e)` spells: integers of up to 15 digits here, the rest by Number. */
function numberValue(bytes: Buffer, s: number, e: number): number {
  if (e - s <= 15) {
    let n = 0;
    let i = s;
    for (; i < e; i++) {
      const c = bytes[i]!;
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
    if (i === e) return n;
  }
  return Number(latin1(bytes, s, e));
}

/** `bytes[s, e)` as a string (ASCII: one character a byte). */
function latin1(bytes: Buffer, s: number, e: number): string {
  return bytes.toString('latin1', s, e);
}

/** A run of the line, after a comma when `comma`. */
function flush(buf: Buffer, out: DataView, pos: number, line: DataView, from: number, to: number, comma: boolean): number {
  if (comma) buf[pos++] = CH_COMMA;
  return copyRun(out, pos, line, from, to);
}

/**
 * Copies bytes `[from, to)` of `src` to `out` at `pos`; the new position. Four bytes a
 * step through DataViews: most runs of a line are 10 to 90 bytes, for which this beat a
 * loop over bytes (2.5 times) and Buffer#copy or TypedArray#set (which make a view per
 * call) when measured with Node 24.
 */
function copyRun(out: DataView, pos: number, src: DataView, from: number, to: number): number {
  let i = from;
  for (; i + 4 <= to; i += 4, pos += 4) out.setUint32(pos, src.getUint32(i));
  for (; i < to; i++) out.setUint8(pos++, src.getUint8(i));
  return pos;
}

/**
 * A label pair's shares of its set's fingerprint, low and high halves (order does not
 * matter: shares are added). The halves come from two independent string hashes (FNV-1a
 * and a multiplicative one with other constants), mixed apart.
 */
function pairLow(name: string, valueHash: number): number {
  let h = stringHash(name) ^ Math.imul(valueHash, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function pairHigh(name: string, valueHash: number): number {
  let h = Math.imul(secondStringHash(name), 0x27d4eb2f) ^ valueHash;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return h ^ (h >>> 15);
}

/**
 * The second hash of the bytes last given to `bytesHash`: both are computed in one
 * pass, the second left here (no object per call). Read it right after the call.
 */
let secondHash = 0;

/** 32-bit FNV-1a of `bytes[s, e)`; a second, independent hash of them in `secondHash`. */
function bytesHash(bytes: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5;
  let g = 0x3c6ef372;
  for (let i = s; i < e; i++) {
    const c = bytes[i]!;
    h = Math.imul(h ^ c, 0x01000193);
    g = (Math.imul(g, 0x5bd1e995) + c + 1) | 0;
  }
  secondHash = g;
  return h;
}

/** A second hash of a name, independent of `stringHash` (names are hashed apart from values). */
function secondStringHash(s: string): number {
  let g = 0x1b873593;
  for (let i = 0; i < s.length; i++) g = (Math.imul(g, 0x5bd1e995) + s.charCodeAt(i) + 1) | 0;
  return g;
}

/** Whether `bytes` holds the ASCII `s` at `p`. */
function startsWith(bytes: Uint8Array, p: number, s: string): boolean {
  const n = s.length;
  if (p + n > bytes.length) return false;
  for (let i = 0; i < n; i++) if (bytes[p + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** Whether `bytes[s1, e1)` and `bytes[s2, e2)` are equal. */
function sameBytes(bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (bytes[s1 + i] !== bytes[s2 + i]) return false;
  return true;
}
