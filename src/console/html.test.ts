import { describe, expect, it } from 'vitest';
import { html, SafeHtml } from './html.js';

describe('html', () => {
  it('escapes interpolated text, in content and in attribute values', () => {
    const value = `<script>alert("x")</script>&'`;
    expect(html`<td title="${value}">${value}</td>`.text).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>',
    );
  });

  it('inserts nested templates as they are, joins lists and leaves out absent values', () => {
    const items = ['<a>', 'b'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.text).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>0');
    expect(html`${new SafeHtml('<b>kept</b>')}`.text).toBe('<b>kept</b>');
  });
});
