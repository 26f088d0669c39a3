/** WCAG 2.x relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

/** The WCAG contrast ratio of two `#rrggbb` colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** `hex` mixed with black: the pressed/hover shade of the primary colour. */
function darker(hex: string, amount: number): string {
  const part = (i: number) => Math.round(parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) * (1 - amount));
  return `#${[0, 1, 2].map((i) => part(i).toString(16).padStart(2, '0')).join('')}`;
}

/**
 * The built-in theme: a bank's page (its colour in the header and buttons, a card on a quiet
 * background, a footer), readable at 390 px, with visible focus and AA contrast throughout.
 */
export function themeCss(primary: string): string {
  return `
:root { color-scheme: light; --primary: ${primary}; --primary-dark: ${darker(primary, 0.2)}; --text: #1b1d21; --muted: #4a4f57; --line: #c9ced6; --page: #f2f4f7; --card: #ffffff; --danger: #a4161a; --focus: #1b1d21; }
* { box-sizing: border-box; }
html { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 100%; line-height: 1.5; color: var(--text); background: var(--page); }
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column; }
a { color: var(--primary); text-underline-offset: .15em; }
a:hover { color: var(--primary-dark); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; box-shadow: 0 0 0 5px #ffffff; }
.skip { position: absolute; left: -999px; top: .5rem; background: #ffffff; color: var(--text); padding: .5rem 1rem; z-index: 2; }
.skip:focus { left: .5rem; }
.bank { background: var(--primary); color: #ffffff; }
.bank .bar { max-width: 44rem; margin: 0 auto; padding: .85rem 1.25rem; display: flex; align-items: center; gap: .75rem; min-height: 4rem; }
.bank img { height: 2.25rem; width: auto; max-width: 10rem; display: block; background: #ffffff; border-radius: .35rem; padding: .2rem .35rem; }
.bank .name { font-size: 1.2rem; font-weight: 700; letter-spacing: .01em; }
.bank .secure { margin-left: auto; font-size: .85rem; text-align: right; }
main { flex: 1; width: 100%; max-width: 44rem; margin: 0 auto; padding: 1.5rem 1rem 2.5rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .75rem; padding: 1.75rem 1.5rem; box-shadow: 0 1px 3px rgba(16, 24, 40, .08); }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; padding-top: 1.25rem; border-top: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1rem 0 .35rem; color: var(--muted); text-transform: none; }
p { margin: .5rem 0; }
.lead { font-size: 1.05rem; }
.muted { color: var(--muted); }
.client { display: flex; align-items: center; gap: 1rem; margin: 0 0 .5rem; }
.client img { width: 3.5rem; height: 3.5rem; object-fit: contain; border: 1px solid var(--line); border-radius: .6rem; background: #ffffff; flex: none; }
.client-links { display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; margin: .25rem 0 0; font-size: .95rem; }
label { display: block; margin: 1.1rem 0 .3rem; font-weight: 600; }
input[type=text], input[type=password] { width: 100%; padding: .7rem .8rem; font-size: 1rem; border: 1px solid #767d87; border-radius: .45rem; background: #ffffff; color: var(--text); min-height: 2.75rem; }
input[type=text]:focus-visible, input[type=password]:focus-visible { border-color: var(--focus); }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1.75rem; }
button, .button { font: inherit; font-weight: 600; padding: .7rem 1.4rem; min-height: 2.75rem; border-radius: .45rem; cursor: pointer; border: 2px solid var(--primary); background: #ffffff; color: var(--primary); text-decoration: none; display: inline-flex; align-items: center; justify-content: center; }
button.primary, .button.primary { background: var(--primary); color: #ffffff; }
button.primary:hover, .button.primary:hover { background: var(--primary-dark); border-color: var(--primary-dark); color: #ffffff; }
button:hover { color: var(--primary-dark); border-color: var(--primary-dark); }
.error { border-left: 4px solid var(--danger); padding: .6rem .85rem; background: #fdeced; color: var(--text); border-radius: 0 .35rem .35rem 0; }
ul.scopes { list-style: none; padding: 0; margin: 0; }
ul.scopes > li { padding: .55rem 0; border-bottom: 1px solid #e3e6ea; }
ul.scopes > li:last-child { border-bottom: 0; }
ul.scopes details { margin-top: .25rem; }
ul.scopes details ul { margin: .35rem 0 0; padding-left: 1.25rem; color: var(--muted); }
summary { cursor: pointer; color: var(--primary); font-size: .95rem; }
fieldset { border: 0; padding: 0; margin: 1.75rem 0 0; padding-top: 1.25rem; border-top: 1px solid var(--line); min-width: 0; }
legend { font-size: 1.15rem; font-weight: 700; padding: 0; float: left; width: 100%; margin-bottom: .35rem; }
fieldset .hint { clear: both; }
.account { display: flex; align-items: center; gap: .75rem; border: 1px solid var(--line); border-radius: .55rem; padding: .65rem .85rem; margin: .5rem 0; background: #ffffff; }
.account input { width: 1.35rem; height: 1.35rem; accent-color: var(--primary); flex: none; margin: 0; }
.account label { margin: 0; font-weight: 600; flex: 1; cursor: pointer; }
.account label span { display: block; font-weight: 400; color: var(--muted); font-size: .92rem; }
.notice { background: #eef2f7; border-radius: .5rem; padding: .75rem 1rem; margin-top: 1.5rem; }
details.technical { margin-top: 1.5rem; color: var(--muted); }
code { overflow-wrap: anywhere; font-size: .92em; }
footer { background: #ffffff; border-top: 1px solid var(--line); font-size: .9rem; color: var(--muted); }
footer .bar { max-width: 44rem; margin: 0 auto; padding: 1rem 1.25rem 1.5rem; }
footer nav { display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; margin-bottom: .35rem; }
footer a { color: var(--text); }
@media (max-width: 30rem) {
  main { padding: 1rem .75rem 2rem; }
  .card { padding: 1.25rem 1rem; border-radius: .6rem; }
  h1 { font-size: 1.35rem; }
  .bank .secure { display: none; }
  .actions button { flex: 1 1 100%; }
}
`;
}
