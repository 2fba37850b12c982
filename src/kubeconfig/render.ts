/**
 * Renders the templates in kubeconfig-templates/.
 *
 * Placeholders are `{{name}}` (required) and `{{name?}}` (optional: a line whose optional
 * placeholder has no value is left out). Every value is inserted as a JSON string, which
 * is valid YAML, so no value can break out of its field whatever it contains. The output
 * is parsed back before it is returned.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ShadowplaneError } from '../errors.ts';
import type { VerifiedProxy } from './verify-proxy.ts';

export type TemplateValues = Readonly<Record<string, string | undefined>>;

const PLACEHOLDER = /\{\{([A-Za-z][A-Za-z0-9]*)(\?)?\}\}/g;

/** The directory holding the shipped templates (beside src/ or dist/). */
export function templatePath(name: string): string {
  return fileURLToPath(new URL(`../../kubeconfig-templates/${name}`, import.meta.url));
}

export function renderTemplate(template: string, values: TemplateValues): string {
  const lines: string[] = [];
  for (const line of template.split('\n')) {
    let drop = false;
    const isComment = line.trimStart().startsWith('#');
    const rendered = line.replace(PLACEHOLDER, (_m, name: string, optional: string | undefined) => {
      const v = values[name];
      if (v === undefined) {
        if (optional === '?') {
          drop = true;
          return '';
        }
        throw new ShadowplaneError('SP_CONFIG_INVALID', `template value ${name} is missing`);
      }
      // In comments, keep values readable but on one line.
      return isComment ? v.replace(/[\r\n]/g, ' ') : JSON.stringify(v);
    });
    if (!drop) lines.push(rendered);
  }
  const out = lines.join('\n');
  try {
    parse(out);
  } catch {
    throw new ShadowplaneError('SP_CONFIG_INVALID', 'the rendered template is not valid YAML');
  }
  return out;
}

export function renderTemplateFile(name: string, values: TemplateValues): string {
  return renderTemplate(readFileSync(templatePath(name), 'utf8'), values);
}

/** The header every rendered file carries: what was verified, and when. */
export function verificationValues(verified: VerifiedProxy, manifestDigestHex: string, now: Date = new Date()): TemplateValues {
  const e = verified.evidence;
  return {
    verifiedAt: now.toISOString(),
    platform: e.simulated ? `${e.platform} (SIMULATED: proves nothing)` : e.platform,
    measurement: e.measurement,
    manifestName: verified.manifestName,
    manifestDigest: manifestDigestHex,
    servingKeySha256: verified.servingKeySha256,
  };
}
