import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { parseGetArgs, parseOutputOption } from '../../src/cli/get-args.js';
import { UsageError } from '../../src/cli/io.js';
import { parseTemplate, renderTemplate, toJsonPath } from '../../src/cli/jsonpath.js';

// kubectl's -o jsonpath templates over jsonpath-plus, and how get reads TYPE/ID arguments and -o values.

const list = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      metadata: { id: 'k8s-cluster', labels: { 'kubeprism.dev/source': 'file' } },
      spec: {
        endpoints: [
          { host: '127.0.0.10', port: 6443, source: 'clusterEndpoint' },
          { host: '10.0.0.2', port: 6443, source: 'member', member: 'cp-2' },
        ],
      },
    },
    { metadata: { id: 'other', labels: {} }, spec: { endpoints: [] } },
  ],
};

async function render(template: string, data: unknown = list): Promise<string> {
  return renderTemplate(template, parseTemplate(template), data);
}

describe('-o jsonpath', () => {
  it.each([
    ['{.kind}', 'List'],
    ['{.items[*].metadata.id}', 'k8s-cluster other'], // several results: space-separated
    ['{.items[0].spec.endpoints[1].member}', 'cp-2'],
    ['{..member}', 'cp-2'],
    ['{.items[-1:].metadata.id}', 'other'],
    ['{.items[0].spec.endpoints[?(@.source=="member")].host}', '10.0.0.2'],
    ['{.items[0].metadata.labels.kubeprism\\.dev/source}', 'file'],
    ["{.items[0].metadata.labels['kubeprism.dev/source']}", 'file'],
    ['{.items[0].spec.endpoints[0].port}', '6443'],
    ['{.items[1].spec}', '{"endpoints":[]}'], // objects as JSON
    ['{.items[0].nothing}', ''], // missing prints nothing, as kubectl's default
    ['id={.items[0].metadata.id}!', 'id=k8s-cluster!'],
    ['{range .items[*]}{.metadata.id}{"\\t"}{.spec.endpoints[*].host}{"\\n"}{end}', 'k8s-cluster\t127.0.0.10 10.0.0.2\nother\t\n'],
    ['{range .items[*]}{range .spec.endpoints[*]}{.host}:{.port};{end}{end}', '127.0.0.10:6443;10.0.0.2:6443;'],
    ['{range .items[*]}{$.kind}/{@.metadata.id} {end}', 'List/k8s-cluster List/other '],
    ['{@}', JSON.stringify(list)],
  ])('%s prints %j', async (template, expected) => {
    expect(await render(template)).toBe(expected);
  });

  it('reads a single resource as the object itself', async () => {
    expect(await render('{.spec.host}', { spec: { host: '127.0.0.1:7445' } })).toBe('127.0.0.1:7445');
  });

  it.each([
    ['{.spec', /unclosed "\{"/],
    ['{range .items[*]}{.id}', /\{range\} without \{end\}/],
    ['{.id}{end}', /\{end\} without \{range\}/],
    ['{}', /empty \{\}/],
    ['{spec.host}', /a path starts with "\." or "\["/],
    ['{.items[0}', /unclosed "\["/],
    ['{"\\q"}', /bad string literal/],
    ['{.a.}', /empty field name/],
  ])('rejects %j as a usage error', (template, message) => {
    expect(() => parseTemplate(template)).toThrow(UsageError);
    expect(() => parseTemplate(template)).toThrow(message);
  });

  it('translates kubectl paths into jsonpath-plus paths', () => {
    expect(toJsonPath('t', '.spec.host')).toEqual({ path: '$.spec.host', fromRoot: false });
    expect(toJsonPath('t', '$.items[*].x-y')).toEqual({ path: '$.items[*]["x-y"]', fromRoot: true });
    expect(toJsonPath('t', '..id')).toEqual({ path: '$..id', fromRoot: false });
    expect(toJsonPath('t', '@')).toEqual({ path: '$', fromRoot: false });
  });
});

describe('get arguments', () => {
  it('reads TYPE [ID...] with ids verbatim (they may hold "/")', () => {
    expect(parseGetArgs(['kps'])).toEqual([{ type: 'kps', ids: [] }]);
    expect(parseGetArgs(['kpu', '127.0.0.1:6443', 'a/b'])).toEqual([{ type: 'kpu', ids: ['127.0.0.1:6443', 'a/b'] }]);
  });

  it('reads TYPE/ID... split at the first "/", grouped by type in order', () => {
    expect(parseGetArgs(['kubeprismstatus/k8s-loadbalancer', 'member/cp-1', 'kps/x/y', 'member/cp-2'])).toEqual([
      { type: 'kubeprismstatus', ids: ['k8s-loadbalancer'] },
      { type: 'member', ids: ['cp-1', 'cp-2'] },
      { type: 'kps', ids: ['x/y'] },
    ]);
  });

  it('refuses to mix the forms, or an empty side', () => {
    expect(() => parseGetArgs(['member/cp-1', 'cp-2'])).toThrow(/every one must be/);
    expect(() => parseGetArgs(['member/'])).toThrow(UsageError);
    expect(() => parseGetArgs(['/cp-1'])).toThrow(UsageError);
    expect(() => parseGetArgs([])).toThrow(UsageError);
  });

  it('reads -o values, with the template of jsonpath= parsed up front', () => {
    expect(parseOutputOption('wide')).toEqual({ format: 'wide' });
    const spec = parseOutputOption('jsonpath={.spec.host}');
    expect(spec.format).toBe('jsonpath');
    expect(spec.template?.text).toBe('{.spec.host}');
    expect(() => parseOutputOption('xml')).toThrow(InvalidArgumentError);
    expect(() => parseOutputOption('jsonpath')).toThrow(/needs a template/);
    expect(() => parseOutputOption('jsonpath={.a')).toThrow(/unclosed/);
    expect(() => parseOutputOption('wide=1')).toThrow(InvalidArgumentError);
  });
});
