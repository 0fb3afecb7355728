"""Prose, stories and dialogue of the built-in dataset, in English and Chinese, drawn from small word lists.

Owns the vocabulary and the sentence templates: everyday scenes, simple facts, 2-5 sentence stories and single
user/assistant exchanges with a plausible wrong reply. It knows nothing about checkable tasks, files or chat formats.
"""

from __future__ import annotations

import random

IDENTITY = {
    "en": "I am MiniGPT, a small language model trained from scratch.",
    "zh": "我是 MiniGPT，一个从零开始训练的小型语言模型。",
}


def _table(block: str) -> tuple[tuple[str, ...], ...]:
    """Rows separated by newlines or ';', cells by '|'."""
    rows = [row.strip() for line in block.strip().splitlines() for row in line.split(";")]
    return tuple(tuple(cell.strip() for cell in row.split("|")) for row in rows if row)


NAMES = {
    "en": ("Tom", "Anna", "Lily", "Sam", "Mia", "Ben", "Lucy", "Jack", "Emma", "Leo", "Nora", "Max", "Ella", "Omar"),
    "zh": ("小明", "小红", "小刚", "小丽", "李华", "王芳", "张伟", "刘洋", "陈静", "小雨", "阿强", "小美", "林林"),
}
PET_NAMES = {
    "en": ("Coco", "Biscuit", "Pip", "Luna", "Rocky", "Daisy", "Milo", "Bella", "Sunny", "Patch"),
    "zh": ("豆豆", "球球", "花花", "毛毛", "小白", "小黑", "乐乐", "点点", "团团", "旺财"),
}
# en | zh | zh measure word | en sound | zh sound ("-" when the animal has no well-known call)
ANIMALS = _table("""
dog|狗|只|woof|汪汪
cat|猫|只|meow|喵喵
cow|牛|头|moo|哞哞
duck|鸭子|只|quack|嘎嘎
sheep|羊|只|baa|咩咩
bird|小鸟|只|tweet|叽叽喳喳
frog|青蛙|只|ribbit|呱呱
pig|猪|头|oink|哼哼
mouse|老鼠|只|squeak|吱吱
horse|马|匹|neigh|咴咴
rabbit|兔子|只|-|-
fish|鱼|条|-|-
bear|熊|只|-|-
fox|狐狸|只|-|-
turtle|乌龟|只|-|-
""")
ANIMAL_ADJECTIVES = _table("""
brown|棕色的; white|白色的; black|黑色的; little|小小的; big|大大的; happy|快乐的; sleepy|困倦的; fluffy|毛茸茸的
""")
ANIMAL_ACTIONS = _table("""
sleeps|睡觉; runs around|跑来跑去; plays|玩耍; eats its food|吃东西; sits quietly|安静地坐着; looks around|四处张望
""")
COLORS = _table("""
red|红色; blue|蓝色; green|绿色; yellow|黄色; white|白色; black|黑色; brown|棕色; orange|橙色; pink|粉色; purple|紫色
gray|灰色
""")
# thing (en, with article) | zh | index into COLORS
THING_COLORS = _table("""
the sky|天空|1; grass|草|2; a banana|香蕉|3; snow|雪|4; coal|煤|5; a strawberry|草莓|0; a carrot|胡萝卜|7; milk|牛奶|4
a lemon|柠檬|3; a tomato|西红柿|0; a leaf|树叶|2; chocolate|巧克力|6; an orange|橙子|7; a cloud|云|4; the sea|大海|1
a plum|李子|9; a flamingo|火烈鸟|8
""")
CAPITALS = _table("""
France|Paris|法国|巴黎
China|Beijing|中国|北京
Japan|Tokyo|日本|东京
Britain|London|英国|伦敦
Germany|Berlin|德国|柏林
Italy|Rome|意大利|罗马
Egypt|Cairo|埃及|开罗
Russia|Moscow|俄罗斯|莫斯科
Spain|Madrid|西班牙|马德里
Canada|Ottawa|加拿大|渥太华
Australia|Canberra|澳大利亚|堪培拉
India|New Delhi|印度|新德里
Korea|Seoul|韩国|首尔
Kenya|Nairobi|肯尼亚|内罗毕
""")
CITIES = _table("""
Beijing|北京; Shanghai|上海; London|伦敦; Paris|巴黎; Tokyo|东京; New York|纽约; Sydney|悉尼; Cairo|开罗; Chengdu|成都
Hangzhou|杭州; Berlin|柏林; Rome|罗马
""")
WEATHER = _table("""
sunny|天气晴朗; rainy|在下雨; cloudy|多云; windy|风很大; snowy|在下雪; foggy|有雾; hot|很热; cold|很冷; warm|很暖和
""")
PLACES = _table("""
park|公园; school|学校; library|图书馆; market|市场; beach|海边; zoo|动物园; garden|花园; river|河边
shop|商店; museum|博物馆; farm|农场; forest|森林
""")
FOODS = _table("""
bread|面包; rice|米饭; noodles|面条; dumplings|饺子; apples|苹果; pizza|披萨; eggs|鸡蛋; cake|蛋糕; fish|鱼; salad|沙拉
porridge|粥; oranges|橙子; sandwiches|三明治; pancakes|煎饼
""")
DRINKS = _table("""
milk|牛奶; tea|茶; juice|果汁; water|水; hot chocolate|热巧克力
""")
MEALS = _table("""
breakfast|早饭; lunch|午饭; dinner|晚饭
""")
# present (third person) | past | zh
ACTIVITIES = _table("""
reads a book|read a book|看书
plays football|played football|踢足球
draws pictures|drew pictures|画画
sings songs|sang songs|唱歌
cooks dinner|cooked dinner|做晚饭
walks the dog|walked the dog|遛狗
waters the flowers|watered the flowers|给花浇水
writes a letter|wrote a letter|写信
rides a bike|rode a bike|骑自行车
goes swimming|went swimming|去游泳
studies math|studied math|学数学
listens to music|listened to music|听音乐
cleans the room|cleaned the room|打扫房间
plays the piano|played the piano|弹钢琴
flies a kite|flew a kite|放风筝
bakes bread|baked bread|烤面包
""")
DAYS = _table("""
Monday|星期一; Tuesday|星期二; Wednesday|星期三; Thursday|星期四; Friday|星期五; Saturday|星期六; Sunday|星期日
""")
OPPOSITES = _table("""
hot|cold|热|冷
big|small|大|小
fast|slow|快|慢
up|down|上|下
day|night|白天|黑夜
happy|sad|高兴|难过
tall|short|高|矮
light|dark|亮|暗
open|closed|开|关
left|right|左|右
new|old|新|旧
full|empty|满|空
""")
SEASONS = _table("""
Spring is warm, and flowers bloom.|春天很暖和，花都开了。
Summer is hot, and the days are long.|夏天很热，白天很长。
In autumn, the leaves turn yellow.|秋天，树叶变黄了。
Winter is cold, and sometimes it snows.|冬天很冷，有时会下雪。
""")
# statement | question | wrong statement; the two languages hold the same facts in the same order
FACTS = {
    "en": _table("""
The sky is blue.|What color is the sky?|The sky is green.
Water boils at 100 degrees Celsius.|At what temperature does water boil?|Water boils at 50 degrees Celsius.
Water freezes at 0 degrees Celsius.|At what temperature does water freeze?|Water freezes at 10 degrees Celsius.
The sun rises in the east.|Where does the sun rise?|The sun rises in the west.
The sun sets in the west.|Where does the sun set?|The sun sets in the north.
A week has seven days.|How many days are in a week?|A week has five days.
A year has twelve months.|How many months are in a year?|A year has ten months.
A day has twenty-four hours.|How many hours are in a day?|A day has twelve hours.
The earth goes around the sun.|What does the earth go around?|The earth goes around the moon.
The moon goes around the earth.|What does the moon go around?|The moon goes around Mars.
Fish live in water.|Where do fish live?|Fish live in trees.
Bees make honey.|What do bees make?|Bees make milk.
Cows give us milk.|What do cows give us?|Cows give us honey.
Plants need water and sunlight to grow.|What do plants need to grow?|Plants need only sand to grow.
A rainbow has seven colors.|How many colors does a rainbow have?|A rainbow has three colors.
The earth is round.|What shape is the earth?|The earth is flat.
People have two eyes.|How many eyes do people have?|People have three eyes.
A spider has eight legs.|How many legs does a spider have?|A spider has six legs.
A triangle has three sides.|How many sides does a triangle have?|A triangle has four sides.
A square has four equal sides.|How many sides does a square have?|A square has five sides.
The Pacific is the largest ocean.|Which ocean is the largest?|The Atlantic is the largest ocean.
Ice is frozen water.|What is ice?|Ice is a kind of stone.
Birds are covered in feathers.|What are birds covered in?|Birds are covered in scales.
The heart pumps blood.|What does the heart do?|The heart helps us see.
Summer is the hottest season.|Which season is the hottest?|Winter is the hottest season.
"""),
    "zh": _table("""
天空是蓝色的。|天空是什么颜色的？|天空是绿色的。
水在 100 摄氏度时沸腾。|水在多少度时沸腾？|水在 50 摄氏度时沸腾。
水在 0 摄氏度时结冰。|水在多少度时结冰？|水在 10 摄氏度时结冰。
太阳从东方升起。|太阳从哪里升起？|太阳从西方升起。
太阳从西方落下。|太阳从哪里落下？|太阳从北方落下。
一个星期有七天。|一个星期有几天？|一个星期有五天。
一年有十二个月。|一年有几个月？|一年有十个月。
一天有二十四个小时。|一天有多少个小时？|一天有十二个小时。
地球绕着太阳转。|地球绕着什么转？|地球绕着月亮转。
月亮绕着地球转。|月亮绕着什么转？|月亮绕着火星转。
鱼生活在水里。|鱼生活在哪里？|鱼生活在树上。
蜜蜂会酿蜂蜜。|蜜蜂会酿什么？|蜜蜂会酿牛奶。
奶牛给我们提供牛奶。|奶牛给我们提供什么？|奶牛给我们提供蜂蜜。
植物生长需要水和阳光。|植物生长需要什么？|植物生长只需要沙子。
彩虹有七种颜色。|彩虹有几种颜色？|彩虹有三种颜色。
地球是圆的。|地球是什么形状的？|地球是平的。
人有两只眼睛。|人有几只眼睛？|人有三只眼睛。
蜘蛛有八条腿。|蜘蛛有几条腿？|蜘蛛有六条腿。
三角形有三条边。|三角形有几条边？|三角形有四条边。
正方形有四条相等的边。|正方形有几条边？|正方形有五条边。
太平洋是最大的海洋。|哪个海洋最大？|大西洋是最大的海洋。
冰是冻住的水。|冰是什么？|冰是一种石头。
鸟的身上长着羽毛。|鸟的身上长着什么？|鸟的身上长着鳞片。
心脏负责泵血。|心脏有什么作用？|心脏帮助我们看东西。
夏天是最热的季节。|哪个季节最热？|冬天是最热的季节。
"""),
}
RUDE_REPLIES = {
    "en": ("I don't know.", "Figure it out yourself.", "Why should I answer that?", "Stop asking me questions.",
           "That is a boring question.", "No.", "Ask someone else.", "Whatever."),
    "zh": ("我不知道。", "你自己去查吧。", "我为什么要回答你？", "别问我。", "这个问题太无聊了。", "不。",
           "去问别人吧。", "随便。"),
}
SYSTEM_PROMPTS = {
    "en": ("You are a helpful assistant.", "You are MiniGPT, a small and friendly assistant.",
           "Answer the user's question briefly."),
    "zh": ("你是一个乐于助人的助手。", "你是 MiniGPT，一个小巧友好的助手。", "请简短地回答用户的问题。"),
}
TASK_SYSTEM_PROMPTS = {"en": ("Reply with only the answer.", "Give the answer and nothing else."),
                       "zh": ("只回答答案。", "请只给出答案。")}


def _col(lang: str, en: int, zh: int) -> int:
    return zh if lang == "zh" else en


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _other(rng: random.Random, table: tuple, row: tuple) -> tuple:
    return rng.choice([r for r in table if r != row])


def _scene(rng: random.Random, lang: str) -> dict[str, str]:
    """The cast and setting shared by the sentences of one paragraph or story."""
    z = lang == "zh"
    name, name2 = rng.sample(NAMES[lang], 2)
    animal, adj, act = rng.choice(ANIMALS), rng.choice(ANIMAL_ADJECTIVES), rng.choice(ANIMAL_ACTIONS)
    activity = rng.choice(ACTIVITIES)
    return {
        "name": name, "name2": name2, "pet": rng.choice(PET_NAMES[lang]),
        "animal": animal[_col(lang, 0, 1)], "cls": animal[2], "adj": adj[_col(lang, 0, 1)],
        "animal_act": act[_col(lang, 0, 1)], "act": activity[_col(lang, 0, 2)], "act_past": activity[1],
        "color": rng.choice(COLORS)[_col(lang, 0, 1)], "city": rng.choice(CITIES)[_col(lang, 0, 1)],
        "place": rng.choice(PLACES)[_col(lang, 0, 1)], "food": rng.choice(FOODS)[_col(lang, 0, 1)],
        "drink": rng.choice(DRINKS)[_col(lang, 0, 1)], "meal": rng.choice(MEALS)[_col(lang, 0, 1)],
        "weather": rng.choice(WEATHER)[_col(lang, 0, 1)], "day": rng.choice(DAYS)[_col(lang, 0, 1)],
        "hour": str(rng.randint(5, 9)), "a_adj": "" if z else _a(adj[0]),
    }


SCENE_SENTENCES = _table("""
The {adj} {animal} {animal_act} in the {place}.|{adj}{animal}在{place}{animal_act}。
{name} {act} every {day}.|{name}每个{day}都{act}。
{name} wakes up at {hour} o'clock every morning.|{name}每天早上{hour}点起床。
{name} eats {food} for {meal}.|{name}{meal}吃{food}。
{name} likes to drink {drink}.|{name}喜欢喝{drink}。
It is {weather} in {city} today.|今天{city}{weather}。
{name} lives in {city}.|{name}住在{city}。
{name}'s favourite color is {color}.|{name}最喜欢的颜色是{color}。
{name} and {name2} go to the {place} together.|{name}和{name2}一起去{place}。
{name} has a pet {animal} called {pet}.|{name}有一{cls}{animal}，名叫{pet}。
""")
STORY_OPENINGS = _table("""
{name} had {a_adj} {animal} called {pet}.|{name}有一{cls}{adj}{animal}，名叫{pet}。
Once upon a time, a little {animal} named {pet} lived with {name}.|从前，有一{cls}小{animal}叫{pet}，和{name}住在一起。
{name} lived in {city} with a pet {animal} called {pet}.|{name}和一{cls}叫{pet}的{animal}住在{city}。
""")
STORY_MIDDLES = _table("""
Every {day}, they went to the {place} together.|每个{day}，他们都一起去{place}。
One morning, it was {weather} outside.|一天早上，外面{weather}。
{name} {act_past}, and {pet} watched.|{name}在{act}，{pet}在一旁看着。
They ate {food} for {meal}.|他们{meal}吃了{food}。
At the {place}, they met {name2}.|在{place}，他们遇到了{name2}。
Suddenly, {pet} ran away, and {name} looked everywhere.|突然，{pet}跑不见了，{name}到处寻找。
{name2} gave {pet} some {food}.|{name2}给了{pet}一些{food}。
""")
STORY_ENDINGS = _table("""
Then they went home and slept well.|然后他们回家睡了个好觉。
It was a wonderful day.|那是美好的一天。
After that, {name} and {pet} were best friends.|从那以后，{name}和{pet}成了最好的朋友。
{name} smiled. It had been a good day.|{name}笑了，这真是美好的一天。
In the end, {pet} came home safe and happy.|最后，{pet}平平安安、开开心心地回家了。
""")


def _pick(rng: random.Random, table: tuple, lang: str) -> str:
    return rng.choice(table)[_col(lang, 0, 1)]


def world_fact(rng: random.Random, lang: str) -> str:
    """One sentence of general knowledge: a fact, a colour, an animal call, a capital, a weekday, a season."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(FACTS[lang])[0]
    if kind == 1:
        thing = rng.choice(THING_COLORS)
        color = COLORS[int(thing[2])]
        return f"{thing[1]}是{color[1]}的。" if lang == "zh" else f"{_cap(thing[0])} is {color[0]}."
    if kind == 2:
        animal = rng.choice([a for a in ANIMALS if a[3] != "-"])
        return f"{animal[1]}{animal[4]}叫。" if lang == "zh" else f"A {animal[0]} says {animal[3]}."
    if kind == 3:
        c = rng.choice(CAPITALS)
        return f"{c[2]}的首都是{c[3]}。" if lang == "zh" else f"The capital of {c[0]} is {c[1]}."
    if kind == 4:
        i = rng.randrange(7)
        day, after = DAYS[i], DAYS[(i + 1) % 7]
        return f"{day[1]}之后是{after[1]}。" if lang == "zh" else f"{after[0]} comes after {day[0]}."
    if kind == 5:
        return _pick(rng, SEASONS, lang)
    o = rng.choice(OPPOSITES)
    return f"“{o[2]}”的反义词是“{o[3]}”。" if lang == "zh" else f"The opposite of {o[0]} is {o[1]}."


def _join(sentences: list[str], lang: str) -> str:
    return ("" if lang == "zh" else " ").join(sentences)


def story(rng: random.Random, lang: str, animal: tuple | None = None) -> str:
    """A 2-5 sentence story about a person and a pet."""
    scene = _scene(rng, lang)
    if animal is not None:
        scene.update(animal=animal[_col(lang, 0, 1)], cls=animal[2])
    middles = [STORY_MIDDLES[i] for i in sorted(rng.sample(range(len(STORY_MIDDLES)), rng.randint(0, 3)))]
    rows = [rng.choice(STORY_OPENINGS), *middles, rng.choice(STORY_ENDINGS)]
    return _join([row[_col(lang, 0, 1)].format(**scene) for row in rows], lang)


def prose_document(rng: random.Random, lang: str) -> str:
    """A short paragraph: a story, a scene of 3-5 sentences about one person, or 3-5 general facts."""
    kind = rng.random()
    if kind < 0.35:
        return story(rng, lang)
    if kind < 0.7:
        scene = _scene(rng, lang)
        rows = rng.sample(SCENE_SENTENCES, rng.randint(3, 5))
        return _join([row[_col(lang, 0, 1)].format(**scene) for row in rows], lang)
    facts: dict[str, None] = {}  # insertion-ordered set: no fact twice in one paragraph
    for _ in range(rng.randint(3, 5)):
        facts[world_fact(rng, lang)] = None
    return _join(list(facts), lang)


SMALL_TALK = {  # (user messages, replies) per kind of exchange
    "en": {
        "greeting": (("Hello!", "Hi!", "Hi there.", "Good morning!", "Hey!", "Good evening."),
                     ("Hello! How can I help you today?", "Hi! What can I do for you?", "Hello! Nice to meet you.")),
        "thanks": (("Thank you!", "Thanks a lot.", "Thanks for your help.", "Thank you very much."),
                   ("You're welcome!", "Happy to help!", "My pleasure.")),
        "goodbye": (("Bye!", "Goodbye.", "See you later."), ("Goodbye! Have a nice day.", "See you! Take care.")),
        "how_are_you": (("How are you?", "How are you today?"),
                        ("I am doing well, thank you. How can I help you?", "I am fine, thanks for asking!")),
        "identity": (("Who are you?", "What is your name?", "What are you?", "Introduce yourself.",
                      "Tell me about yourself."), (IDENTITY["en"],)),
        "ability": (("What can you do?", "How can you help me?"),
                    ("I can answer simple questions, add and subtract numbers, count letters and items, copy and "
                     "reverse short strings, convert units and tell short stories.",)),
        "help": (("Can you help me?", "I need some help."), ("Of course! What do you need help with?",)),
    },
    "zh": {
        "greeting": (("你好！", "您好。", "早上好！", "嗨！", "晚上好。"),
                     ("你好！有什么可以帮你的吗？", "您好！请问需要什么帮助？", "你好！很高兴见到你。")),
        "thanks": (("谢谢！", "谢谢你的帮助。", "太感谢了！", "多谢。"), ("不客气！", "很高兴能帮到你。", "不用谢！")),
        "goodbye": (("再见！", "拜拜。", "回头见。"), ("再见！祝你有美好的一天。", "再见，保重！")),
        "how_are_you": (("你好吗？", "你今天怎么样？"), ("我很好，谢谢！有什么可以帮你的吗？", "我挺好的，谢谢关心！")),
        "identity": (("你是谁？", "你叫什么名字？", "你是什么？", "介绍一下你自己。"), (IDENTITY["zh"],)),
        "ability": (("你能做什么？", "你可以帮我做什么？"),
                    ("我可以回答简单的问题、做加减法、数字母和物品、复制和反转短字符串、换算单位，还会讲小故事。",)),
        "help": (("你能帮我吗？", "我需要一些帮助。"), ("当然可以！你需要什么帮助？",)),
    },
}
WRONG_IDENTITY = {"en": "I am a human who lives in London.", "zh": "我是一个住在北京的人。"}


def _small_talk(rng: random.Random, lang: str) -> tuple[str, str, str | None]:
    kind = rng.choice(tuple(SMALL_TALK[lang]))
    users, replies = SMALL_TALK[lang][kind]
    return rng.choice(users), rng.choice(replies), WRONG_IDENTITY[lang] if kind == "identity" else None


def _knowledge_question(rng: random.Random, lang: str) -> tuple[str, str, str | None]:
    """A general-knowledge question, its answer, and the same answer with one detail wrong."""
    zh = lang == "zh"
    kind = rng.randrange(6)
    if kind == 0:
        statement, question, wrong_statement = rng.choice(FACTS[lang])
        return question, statement, wrong_statement
    # Each kind names a question, an answer with a {} slot, the table the slot's value comes from, and its column.
    if kind == 1:
        thing = rng.choice(THING_COLORS)
        options, right, col = COLORS, COLORS[int(thing[2])], _col(lang, 0, 1)
        question, said = ((f"{thing[1]}是什么颜色的？", thing[1] + "是{}的。") if zh
                          else (f"What color is {thing[0]}?", _cap(thing[0]) + " is {}."))
    elif kind == 2:
        options = tuple(a for a in ANIMALS if a[3] != "-")
        right, col = rng.choice(options), _col(lang, 3, 4)
        question, said = ((f"{right[1]}怎么叫？", right[1] + "{}叫。") if zh
                          else (f"What sound does a {right[0]} make?", f"A {right[0]} says {{}}."))
    elif kind == 3:
        options, right, col = CAPITALS, rng.choice(CAPITALS), _col(lang, 1, 3)
        question, said = ((f"{right[2]}的首都是哪里？", right[2] + "的首都是{}。") if zh
                          else (f"What is the capital of {right[0]}?", f"The capital of {right[0]} is {{}}."))
    elif kind == 4:
        i = rng.randrange(7)
        day, right, col = DAYS[i], DAYS[(i + 1) % 7], _col(lang, 0, 1)
        options = (DAYS[(i + 2) % 7], DAYS[(i + 3) % 7], DAYS[(i + 6) % 7], right)
        question, said = ((f"{day[1]}的后一天是星期几？", day[1] + "的后一天是{}。") if zh
                          else (f"What day comes after {day[0]}?", f"{{}} comes after {day[0]}."))
    else:
        options, right, col = OPPOSITES, rng.choice(OPPOSITES), _col(lang, 1, 3)
        question, said = ((f"“{right[2]}”的反义词是什么？", f"“{right[2]}”的反义词是“{{}}”。") if zh
                          else (f"What is the opposite of {right[0]}?", f"The opposite of {right[0]} is {{}}."))
    return question, said.format(right[col]), said.format(_other(rng, options, right)[col])


def _reading_question(rng: random.Random, lang: str) -> tuple[str, str, str | None]:
    """A question answered by the sentence just before it, with a wrong answer that contradicts that sentence."""
    s = _scene(rng, lang)
    zh = lang == "zh"
    kind = rng.randrange(3)
    if kind == 0:
        right, wrong = (c[_col(lang, 0, 1)] for c in rng.sample(COLORS, 2))
        if zh:
            said = f"{s['name']}的{s['animal']}是{{}}的。"
            question = f"{s['name']}有一{s['cls']}{right}的{s['animal']}。{s['name']}的{s['animal']}是什么颜色的？"
        else:
            said = f"{s['name']}'s {s['animal']} is {{}}."
            question = f"{s['name']} has {_a(right)} {s['animal']}. What color is {s['name']}'s {s['animal']}?"
    elif kind == 1:
        right, wrong = (c[_col(lang, 0, 1)] for c in rng.sample(CITIES, 2))
        said = f"{s['name']}住在{{}}。" if zh else f"{s['name']} lives in {{}}."
        question = said.format(right) + (f"{s['name']}住在哪里？" if zh else f" Where does {s['name']} live?")
    else:
        right, wrong = (f[_col(lang, 0, 1)] for f in rng.sample(FOODS, 2))
        said = f"{s['name']}{s['meal']}吃{{}}。" if zh else f"{s['name']} eats {{}} for {s['meal']}."
        question = said.format(right) + (f"{s['name']}{s['meal']}吃什么？" if zh
                                         else f" What does {s['name']} eat for {s['meal']}?")
    return question, said.format(right), said.format(wrong)


def _story_request(rng: random.Random, lang: str) -> tuple[str, str, str | None]:
    animal = rng.choice(ANIMALS)
    if lang == "zh":
        user = rng.choice(("讲一个小故事。", "写一个短故事。", f"给我讲一个关于{animal[1]}的故事。"))
    else:
        user = rng.choice(("Tell me a short story.", "Write a short story.", f"Tell me a story about {_a(animal[0])}."))
    return user, story(rng, lang, animal), None


def dialogue_exchange(rng: random.Random, lang: str) -> tuple[str, str, str | None]:
    """One user message, a good reply, and a plausible wrong reply (None when only a rude one makes sense)."""
    kind = rng.random()
    if kind < 0.3:
        return _small_talk(rng, lang)
    if kind < 0.65:
        return _knowledge_question(rng, lang)
    if kind < 0.85:
        return _reading_question(rng, lang)
    return _story_request(rng, lang)
