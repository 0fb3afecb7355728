<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>ABChatView</name>
    <message>
        <location filename="../views/chat_ab.py" line="38"/>
        <source>Optional system prompt, sent to both sides</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="46"/>
        <source>One prompt for both sides — Enter sends, Shift+Enter adds a line</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="49"/>
        <source>Send to both</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="52"/>
        <source>Stop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="54"/>
        <source>New comparison</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="63"/>
        <source>◀ &amp;A is better</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="64"/>
        <source>&amp;Tie</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="65"/>
        <source>&amp;B is better ▶</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="69"/>
        <source>Load a checkpoint on each side (the same one twice compares two sampling settings).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="158"/>
        <source>A server was not ready; the turn cannot be compared.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="160"/>
        <source>Both sides are answering…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="171"/>
        <source>A side gave no reply, so there is nothing to compare; send another prompt.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="173"/>
        <source>Which reply is better?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="175"/>
        <source>A reply was cut short; pick anyway, or send another prompt.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab.py" line="190"/>
        <source>New comparison.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ABSide</name>
    <message>
        <location filename="../views/chat_ab_side.py" line="36"/>
        <source>Load</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab_side.py" line="38"/>
        <source>No checkpoint loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_ab_side.py" line="120"/>
        <source>&lt;b&gt;Ready&lt;/b&gt;</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>AttentionView</name>
    <message>
        <location filename="../views/attention_view.py" line="42"/>
        <source>Which transformer block&apos;s attention to show (0 = the first)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="45"/>
        <source>One attention head, or the mean of all heads of the layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="48"/>
        <source>Rows: reply tokens. Columns: the tokens each one could look at.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="51"/>
        <source>Layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="53"/>
        <source>Head</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="81"/>
        <source>mean of {0} heads</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="83"/>
        <location filename="../views/attention_view.py" line="109"/>
        <source>head {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="109"/>
        <source>mean of the heads</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/attention_view.py" line="110"/>
        <source>Layer {0}, {1}. Rows: the {2} reply tokens; columns: the tokens each one could look at (brighter = more attention).</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ChatView</name>
    <message>
        <location filename="../views/chat_view.py" line="47"/>
        <location filename="../views/chat_view.py" line="139"/>
        <source>Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="52"/>
        <source>Checkpoints of the runs in this workspace</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="54"/>
        <source>Open folder…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="56"/>
        <source>Load</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="58"/>
        <source>No checkpoint loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="62"/>
        <source>Checkpoint</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="70"/>
        <source>Write a message — Enter sends, Shift+Enter adds a line</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="73"/>
        <source>Send</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="76"/>
        <source>Stop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="79"/>
        <source>New chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="91"/>
        <source>Look inside</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="110"/>
        <source>Optional: how the model should behave</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="113"/>
        <source>System prompt</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="144"/>
        <source>Compare A/B</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_view.py" line="253"/>
        <source>&lt;b&gt;Ready&lt;/b&gt;</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DataPage</name>
    <message>
        <location filename="../views/page_data.py" line="98"/>
        <source>Use the built-in dataset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_data.py" line="107"/>
        <source>Add files…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_data.py" line="109"/>
        <source>Remove</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_data.py" line="114"/>
        <source>Cancel scan</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_data.py" line="135"/>
        <source>Your files (drop them here):</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_data.py" line="144"/>
        <source>Text encoding:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_data.py" line="392"/>
        <source>&lt;b&gt;Preference data&lt;/b&gt; (from A/B chat)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>EstimateBox</name>
    <message>
        <location filename="../views/estimate_box.py" line="45"/>
        <source>Training time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/estimate_box.py" line="51"/>
        <source>Memory: weights, gradients, AdamW state and one micro-batch of activations.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Field</name>
    <message>
        <location filename="../views/fields.py" line="89"/>
        <source>comma-separated</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>HardwarePage</name>
    <message>
        <location filename="../views/page_hardware.py" line="43"/>
        <source>Detecting hardware (minigpt doctor)…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_hardware.py" line="46"/>
        <source>This machine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_hardware.py" line="49"/>
        <source>Settings</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>InsidePanel</name>
    <message>
        <location filename="../views/inside_panel.py" line="25"/>
        <source>Send a message: its reply appears here token by token.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/inside_panel.py" line="32"/>
        <source>Tokens and probabilities</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/inside_panel.py" line="33"/>
        <source>Attention</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/inside_panel.py" line="58"/>
        <source>No finished reply yet: send a message first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/inside_panel.py" line="67"/>
        <source>Looking inside reply {0}…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/inside_panel.py" line="90"/>
        <source>Reply {0}: {1} tokens. Colours show how likely the model found each one (its own probabilities, before temperature and top-p).</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LanguageMenu</name>
    <message>
        <location filename="../views/language_menu.py" line="23"/>
        <source>&amp;Language</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../views/main_window.py" line="40"/>
        <source>Train</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="40"/>
        <source>Monitor</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="41"/>
        <source>Runs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="41"/>
        <source>Chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="84"/>
        <source>device: detecting…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="86"/>
        <location filename="../views/main_window.py" line="179"/>
        <source>no runs training</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="114"/>
        <source>&amp;File</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="115"/>
        <source>Open &amp;dataset…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="116"/>
        <source>Open run &amp;config…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="117"/>
        <source>Open &amp;checkpoint…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="118"/>
        <source>Open &amp;workspace…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="120"/>
        <source>&amp;Quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="121"/>
        <source>&amp;View</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="126"/>
        <source>&amp;Help</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="127"/>
        <source>&amp;Manual (this page&apos;s chapter)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="128"/>
        <source>Open &amp;docs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="129"/>
        <source>&amp;About</source>
        <translation type="unfinished"></translation>
    </message>
    <message numerus="yes">
        <location filename="../views/main_window.py" line="179"/>
        <source>%n run(s) training</source>
        <translation type="unfinished">
            <numerusform></numerusform>
        </translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="191"/>
        <source>CPU, {0} cores</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="192"/>
        <source>device: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="195"/>
        <source>device: unknown (doctor failed)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="207"/>
        <source>Open a run config</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="208"/>
        <source>Run config (*.yaml *.yml);;All (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="217"/>
        <source>Open run config</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="222"/>
        <source>Open a checkpoint folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="228"/>
        <source>Open workspace</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="229"/>
        <source>Stop the running runs before switching workspace.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="231"/>
        <source>Open a workspace folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="243"/>
        <source>workspace: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="259"/>
        <source>About {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="261"/>
        <source>&lt;p&gt;Train small GPT-style language models from scratch, watch them learn, and talk to the result.&lt;/p&gt;&lt;p&gt;The studio drives the &lt;code&gt;minigpt&lt;/code&gt; engine as separate processes; every run is also a YAML file you can run from the command line.&lt;/p&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/main_window.py" line="289"/>
        <source>Stopping runs: each saves a checkpoint, then the studio closes…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ManualDialog</name>
    <message>
        <location filename="../views/manual_view.py" line="70"/>
        <source>Manual</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/manual_view.py" line="89"/>
        <source>The manual was not found in {0}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MonitorTabs</name>
    <message>
        <location filename="../views/monitor_tabs.py" line="18"/>
        <source>No run is being monitored.
Launch one from Train, or open a past run from Runs.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MonitorView</name>
    <message>
        <location filename="../views/monitor.py" line="96"/>
        <source>Pause</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/monitor.py" line="97"/>
        <source>Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/monitor.py" line="98"/>
        <source>Stop (save and exit)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/monitor.py" line="99"/>
        <source>Save now</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/monitor.py" line="100"/>
        <source>Chat with latest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/monitor.py" line="131"/>
        <source>Samples</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/monitor.py" line="132"/>
        <source>Log</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PlotGrid</name>
    <message>
        <location filename="../views/plots.py" line="119"/>
        <source>Log scale</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/plots.py" line="121"/>
        <source>Show the loss on a logarithmic axis</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/plots.py" line="128"/>
        <source>Moving-average window of the smoothed training loss</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/plots.py" line="130"/>
        <source>x axis: training step</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/plots.py" line="135"/>
        <source>Smoothing</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PreferenceFiles</name>
    <message>
        <location filename="../views/preference_files.py" line="50"/>
        <source>Use for training</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/preference_files.py" line="51"/>
        <source>Add this file to the data files (for the DPO stage)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ReviewPage</name>
    <message>
        <location filename="../views/page_review.py" line="45"/>
        <source>Copy CLI command</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_review.py" line="47"/>
        <source>Save config…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_review.py" line="49"/>
        <source>Launch</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_review.py" line="97"/>
        <source>&lt;span style=&apos;color:#16a34a&apos;&gt;✓ Valid run configuration&lt;/span&gt;</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>RewardSource</name>
    <message>
        <location filename="../views/stage_needs.py" line="71"/>
        <source>Browse…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>RunsView</name>
    <message>
        <location filename="../views/runs_view.py" line="57"/>
        <source>Runs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="61"/>
        <source>Open</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="62"/>
        <source>Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="63"/>
        <source>Open folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="64"/>
        <source>Chat with best</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="65"/>
        <source>Chat with latest</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="66"/>
        <location filename="../views/runs_view.py" line="136"/>
        <source>Delete…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="68"/>
        <source>Refresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="136"/>
        <source>Delete failed start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/runs_view.py" line="137"/>
        <source>It never trained: only its log goes</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SamplesView</name>
    <message>
        <location filename="../views/samples_view.py" line="44"/>
        <source>Samples appear at each evaluation.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SamplingBox</name>
    <message>
        <location filename="../views/chat_sampling.py" line="58"/>
        <source>Defaults</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_sampling.py" line="59"/>
        <source>Back to the engine&apos;s defaults</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SavedChats</name>
    <message>
        <location filename="../views/chat_saved.py" line="29"/>
        <source>Save chat</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_saved.py" line="30"/>
        <source>Save this conversation to the workspace&apos;s chats folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/chat_saved.py" line="32"/>
        <source>Open chat…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>StagePage</name>
    <message>
        <location filename="../views/page_stage.py" line="60"/>
        <source>Browse…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_stage.py" line="70"/>
        <source>Start from</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_stage.py" line="74"/>
        <source>Needs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_stage.py" line="77"/>
        <source>Reward from</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_stage.py" line="85"/>
        <source>Stage</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_stage.py" line="88"/>
        <source>Stage settings</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TokenView</name>
    <message>
        <location filename="../views/token_view.py" line="70"/>
        <source>Point at a coloured reply token to see the model&apos;s alternatives.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/token_view.py" line="75"/>
        <source>Alternative</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/token_view.py" line="75"/>
        <source>Id</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/token_view.py" line="75"/>
        <source>Probability</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/token_view.py" line="104"/>
        <source>&lt;b&gt;{0}&lt;/b&gt; · id {1} · probability {2:.1%} — the model&apos;s likeliest alternatives here:</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TokenizerPage</name>
    <message>
        <location filename="../views/page_tokenizer.py" line="82"/>
        <source>Train one automatically when the run starts (cached for later runs)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="83"/>
        <source>Use an existing tokenizer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="84"/>
        <source>Train one now</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="96"/>
        <source>Browse…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="101"/>
        <source>Train tokenizer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="115"/>
        <source>Tokenizer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="121"/>
        <source>Training settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/page_tokenizer.py" line="212"/>
        <source>Training the tokenizer…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TrainWizard</name>
    <message>
        <location filename="../views/wizard.py" line="74"/>
        <source>Back</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/wizard.py" line="77"/>
        <source>Next</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
