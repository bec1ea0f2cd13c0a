/*
 * The web page of `jupyter mlops server`: the views of lib/standalone (tsc's output) bundled
 * with everything they use into ../jupyter_mlops/server/webui, where the server serves them
 * (jupyter_mlops/server/web_page.py): index.html at `/`, the rest under `/ui/`. Every name but
 * index.html carries a content hash; index.html is written here with the entry's files. No
 * eval or inline script anywhere (the page's Content-Security-Policy allows neither).
 */
const path = require('path');
const webpack = require('webpack');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');
const base = require('@jupyterlab/builder/lib/webpack.config.base');

const OUTPUT = path.resolve(__dirname, '../jupyter_mlops/server/webui');
const TITLE = 'jupyter_mlops';

/** Writes index.html naming the entry's scripts and stylesheets. */
class IndexPage {
  apply(compiler) {
    compiler.hooks.thisCompilation.tap('IndexPage', compilation => {
      compilation.hooks.processAssets.tap(
        {
          name: 'IndexPage',
          stage: webpack.Compilation.PROCESS_ASSETS_STAGE_SUMMARIZE
        },
        () => {
          const files = Array.from(
            compilation.entrypoints.get('main').getFiles()
          );
          const styles = files
            .filter(f => f.endsWith('.css'))
            .map(f => `    <link rel="stylesheet" href="ui/${f}">`);
          const scripts = files
            .filter(f => f.endsWith('.js'))
            .map(f => `    <script defer src="ui/${f}"></script>`);
          const html = [
            '<!doctype html>',
            '<html lang="en">',
            '  <head>',
            '    <meta charset="utf-8">',
            '    <meta name="viewport" content="width=device-width, initial-scale=1">',
            '    <meta name="referrer" content="no-referrer">',
            `    <title>${TITLE}</title>`,
            ...styles,
            ...scripts,
            '  </head>',
            '  <body></body>',
            '</html>',
            ''
          ].join('\n');
          // As written: readable, and no minimizer to rewrite it.
          compilation.emitAsset(
            'index.html',
            new webpack.sources.RawSource(html),
            {
              minimized: true
            }
          );
        }
      );
    });
  }
}

module.exports = (env, argv) => {
  const production = argv.mode === 'production';
  const rules = base.module.rules.map(rule =>
    String(rule.test) === String(/(?<!\.raw)\.css$/)
      ? { ...rule, use: [MiniCssExtractPlugin.loader, 'css-loader'] }
      : rule
  );
  return {
    mode: production ? 'production' : 'development',
    entry: { main: './lib/standalone/main.js' },
    output: {
      path: OUTPUT,
      publicPath: 'auto',
      filename: '[name].[contenthash:16].js',
      chunkFilename: '[name].[contenthash:16].js',
      assetModuleFilename: '[name].[contenthash:16][ext]',
      hashFunction: 'sha256',
      clean: true
    },
    // Source maps as files (never eval), in the development build only.
    devtool: production ? false : 'source-map',
    module: { rules },
    resolve: base.resolve,
    plugins: [
      ...base.plugins,
      new MiniCssExtractPlugin({
        filename: '[name].[contenthash:16].css',
        chunkFilename: '[name].[contenthash:16].css'
      }),
      new IndexPage()
    ],
    performance: { hints: false },
    stats: 'errors-warnings',
    bail: true
  };
};
