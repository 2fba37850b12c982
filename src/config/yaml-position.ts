/**
 * Where a YAML parse failed, for error messages: the line, column and the parser's code,
 * never the text around it (which `prettyErrors` would copy into the message).
 */
import { YAMLError } from 'yaml';

/** ` at line N, column M (CODE)` for a YAML parse error of `text`; empty for anything else. */
export function yamlErrorWhere(text: string, err: unknown): string {
  if (!(err instanceof YAMLError)) return '';
  const offset = Math.min(Math.max(0, err.pos[0]), text.length);
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return ` at line ${line}, column ${offset - lineStart + 1} (${err.code})`;
}
