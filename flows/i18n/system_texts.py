"""The sentences the system itself says, in every language a shop may speak.

A flow may override the ones that are templates (fallback, disclosure, handoff notices) in
flows.yaml; the others carry facts only the gateway knows (who joined, when people are back)
and are filled in with `str.format`. A language missing here reads English.
"""

from __future__ import annotations

SOURCE = "en"

SYSTEM_TEXTS: dict[str, dict[str, str]] = {
    "fallback": {
        "en": "Sorry, I didn't get that.",
        "es": "Perdona, no lo he entendido.",
        "pl": "Przepraszam, nie zrozumiałem.",
        "ro": "Îmi pare rău, nu am înțeles.",
        "ar": "عذرًا، لم أفهم ذلك.",
        "zh-Hans": "抱歉，我没听懂。",
        "zh-Hant": "抱歉，我沒聽懂。",
    },
    "handoff_open": {
        "en": "A member of our team will join you here shortly{% if handoff.wait %} (usually "
        "within {{ handoff.wait }}){% endif %}. A person, not the bot, will answer.",
        "es": "Una persona de nuestro equipo te atenderá aquí en breve{% if handoff.wait %} "
        "(normalmente en {{ handoff.wait }}){% endif %}. Te responderá una persona, no el bot.",
        "pl": "Za chwilę dołączy tu ktoś z naszego zespołu{% if handoff.wait %} (zwykle w ciągu "
        "{{ handoff.wait }}){% endif %}. Odpowie Ci człowiek, nie bot.",
        "ro": "Un coleg din echipa noastră vi se va alătura aici în curând{% if handoff.wait %} "
        "(de obicei în {{ handoff.wait }}){% endif %}. Vă va răspunde un om, nu botul.",
        "ar": "سينضم إليك أحد أفراد فريقنا هنا قريبًا{% if handoff.wait %} (عادةً خلال "
        "{{ handoff.wait }}){% endif %}. سيرد عليك شخص حقيقي، وليس الروبوت.",
        "zh-Hans": "我们的同事很快就会来这里为您服务{% if handoff.wait %}（通常在"
        "{{ handoff.wait }}内）{% endif %}。回复您的将是真人，而不是机器人。",
        "zh-Hant": "我們的同事很快就會來這裡為您服務{% if handoff.wait %}（通常在"
        "{{ handoff.wait }}內）{% endif %}。回覆您的將是真人，而不是機器人。",
    },
    "handoff_busy": {
        "en": "Nobody from our team is on duty right this minute. Your message is saved and a "
        "person will answer you here as soon as someone is back, so you don't need to stay in "
        "the chat.",
        "es": "Ahora mismo no hay nadie del equipo disponible. Tu mensaje está guardado y una "
        "persona te responderá aquí en cuanto vuelva alguien.",
        "pl": "W tej chwili nikt z naszego zespołu nie dyżuruje. Twoja wiadomość jest zapisana, "
        "a człowiek odpowie Ci tutaj, gdy tylko ktoś wróci.",
        "ro": "Chiar acum nu este nimeni din echipă de serviciu. Mesajul dumneavoastră este "
        "salvat și un om vă va răspunde aici imediat ce revine cineva.",
        "ar": "لا يوجد أحد من فريقنا متاح في هذه اللحظة. رسالتك محفوظة وسيرد عليك شخص هنا فور "
        "عودة أحد الزملاء.",
        "zh-Hans": "此刻没有同事在线。您的消息已保存，一有同事回来就会在这里回复您。",
        "zh-Hant": "此刻沒有同事在線。您的訊息已儲存，一有同事回來就會在這裡回覆您。",
    },
    "handoff_closed": {
        "en": "Our team is off duty now. Your message is saved, and a person will answer you "
        "here {{ hours.next_open }}.",
        "es": "Nuestro equipo no está disponible ahora y tu mensaje está guardado: una persona "
        "te responderá aquí {{ hours.next_open }}.",
        "pl": "Nasz zespół ma teraz wolne, a Twoja wiadomość jest zapisana: człowiek odpowie Ci "
        "tutaj {{ hours.next_open }}.",
        "ro": "Echipa noastră nu este acum de serviciu, iar mesajul dumneavoastră este salvat: "
        "un om vă va răspunde aici {{ hours.next_open }}.",
        "ar": "فريقنا خارج ساعات العمل الآن، ورسالتك محفوظة: سيرد عليك شخص هنا "
        "{{ hours.next_open }}.",
        "zh-Hans": "我们的团队现在已下班，您的消息已保存：同事会在"
        "{{ hours.next_open }}在这里回复您。",
        "zh-Hant": "我們的團隊現在已下班，您的訊息已儲存：同事會在"
        "{{ hours.next_open }}在這裡回覆您。",
    },
    "agent_joined": {
        "en": "👋 {agent} from {shop} has joined the chat. You're talking to a person now.",
        "es": "👋 {agent}, de {shop}, se ha unido al chat. Ahora hablas con una persona.",
        "pl": "👋 {agent} z {shop} dołącza do rozmowy. Teraz rozmawiasz z człowiekiem.",
        "ro": "👋 {agent} de la {shop} s-a alăturat conversației. Acum vorbiți cu un om.",
        "ar": "👋 انضم {agent} من {shop} إلى المحادثة. أنت تتحدث الآن مع شخص حقيقي.",
        "zh-Hans": "👋 {shop}的{agent}已加入对话。现在和您交谈的是真人。",
        "zh-Hant": "👋 {shop}的{agent}已加入對話。現在和您交談的是真人。",
    },
    "did_you_mean": {
        "en": "I'm not sure I understood. Did you mean one of these?",
        "es": "No estoy seguro de haberte entendido. ¿Te refieres a alguna de estas opciones?",
        "pl": "Nie jestem pewien, czy dobrze rozumiem. Czy chodzi o jedną z tych spraw?",
        "ro": "Nu sunt sigur că am înțeles. V-ați referit la una dintre acestea?",
        "ar": "لست متأكدًا من أنني فهمت. هل تقصد أحد هذه الخيارات؟",
        "zh-Hans": "我不太确定是否理解了您的意思。您是指以下哪一项？",
        "zh-Hant": "我不太確定是否理解了您的意思。您是指以下哪一項？",
    },
    "choose_language": {
        "en": "Which language would you like me to write in?",
        "es": "¿En qué idioma prefieres que te escriba?",
        "pl": "W jakim języku mam pisać?",
        "ro": "În ce limbă doriți să vă scriu?",
        "ar": "بأي لغة تفضّل أن أكتب لك؟",
        "zh-Hans": "您希望我用哪种语言回复？",
        "zh-Hant": "您希望我用哪種語言回覆？",
    },
    "language_set": {
        "en": "OK, I'll write in English.",
        "es": "De acuerdo, te escribiré en español.",
        "pl": "Dobrze, będę pisać po polsku.",
        "ro": "Bine, vă voi scrie în limba română.",
        "ar": "حسنًا، سأكتب لك بالعربية.",
        "zh-Hans": "好的，我会用简体中文回复。",
        "zh-Hant": "好的，我會用繁體中文回覆。",
    },
    # When people are back: "{when}" is one of the day phrases, "{time}" a CLDR short time.
    "open_today": {
        "en": "today at {time}", "es": "hoy a las {time}", "pl": "dziś o {time}",
        "ro": "astăzi la {time}", "ar": "اليوم الساعة {time}", "zh-Hans": "今天{time}",
        "zh-Hant": "今天{time}",
    },
    "open_tomorrow": {
        "en": "tomorrow at {time}", "es": "mañana a las {time}", "pl": "jutro o {time}",
        "ro": "mâine la {time}", "ar": "غدًا الساعة {time}", "zh-Hans": "明天{time}",
        "zh-Hant": "明天{time}",
    },
    "open_weekday": {
        "en": "on {day} at {time}", "es": "el {day} a las {time}", "pl": "{day} o {time}",
        "ro": "{day} la {time}", "ar": "يوم {day} الساعة {time}", "zh-Hans": "{day}{time}",
        "zh-Hant": "{day}{time}",
    },
    "open_date": {
        "en": "on {date} at {time}", "es": "el {date} a las {time}", "pl": "{date} o {time}",
        "ro": "pe {date} la {time}", "ar": "في {date} الساعة {time}", "zh-Hans": "{date}{time}",
        "zh-Hant": "{date}{time}",
    },
    "open_zone": {
        "en": "{when} ({city} time)", "es": "{when} (hora de {city})",
        "pl": "{when} (czasu {city})", "ro": "{when} (ora {city})", "ar": "{when} (بتوقيت {city})",
        "zh-Hans": "{when}（{city}时间）", "zh-Hant": "{when}（{city}時間）",
    },
    "open_unknown": {
        "en": "as soon as we can", "es": "lo antes posible", "pl": "najszybciej, jak to możliwe",
        "ro": "cât mai curând posibil", "ar": "في أقرب وقت ممكن", "zh-Hans": "尽快",
        "zh-Hant": "盡快",
    },
}  # fmt: skip


def system_text(key: str, language: str | None) -> str:
    """The system's sentence `key` in `language`, or in English when it has none."""
    texts = SYSTEM_TEXTS[key]
    return texts.get(language or SOURCE) or texts[SOURCE]
