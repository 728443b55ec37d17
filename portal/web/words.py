"""What the customer pages say, in English and Swahili.

Customers pick a language with a link; it travels in the query string and in forms (a cookie may not
survive the phone's captive-portal window).
"""

LANGUAGES = ("en", "sw")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "choose_package": "Choose a package",
        "phone_label": "M-Pesa phone number",
        "phone_hint": "The phone that will get the M-Pesa prompt, e.g. 0712 345 678",
        "pay": "Pay with M-Pesa",
        "have_code": "Already paid, or have a voucher?",
        "have_code_link": "Enter your code",
        "help": "Help",
        "other_language": "Kiswahili",
        "not_a_customer_title": "Connect to the Wi-Fi first",
        "not_a_customer": "This page opens by itself when you join the hotspot's Wi-Fi network.",
        "no_packages": "No packages are on sale right now. Please ask the staff.",
        "no_account": "Payments are not set up on this hotspot yet. Please ask the staff.",
        "pick_package": "Choose a package first.",
        "check_phone": "Check your phone",
        "enter_pin": "Enter your M-Pesa PIN on {phone} to pay KES {amount} to {name}.",
        "prompt_expires": "The prompt expires in",
        "waiting_no_js": "This page refreshes by itself.",
        "cancel": "Cancel",
        "resend": "Send the prompt again",
        "try_again": "Try again",
        "other_number": "Pay with another number",
        "connecting": "Paid. Connecting you…",
        "connecting_detail": "Your payment is received ({receipt}). We are logging your device in.",
        "connecting_detail_no_receipt": "Your payment is received. We are logging your device in.",
        "online": "You're online",
        "time_left": "Time left",
        "expires_at": "Until",
        "access_code": "Your access code",
        "access_code_hint": "Keep it: it reconnects you on another device, or if your phone changes.",
        "continue": "Continue browsing",
        "codes_move_time": (
            "Changed phone? On the other device, enter your access code, voucher, or the receipt code from"
            " your M-Pesa SMS: your time moves there."
        ),
        "buy_more": "Buy more time",
        "welcome_back": "Welcome back",
        "enter_code": "Enter your code",
        "code_label": "Access code, M-Pesa receipt or voucher",
        "code_hint": "e.g. K7PM-Q2XR, or the receipt code in your M-Pesa SMS, e.g. TJ3MX6CLYC",
        "use_code": "Connect",
        "pay_by_hand": "Or pay by M-Pesa yourself: {how}, then enter the receipt code from the SMS.",
        "paybill_how": "Lipa na M-Pesa, Pay Bill {shortcode}, account {account}",
        "till_how": "Lipa na M-Pesa, Buy Goods, till {till}",
        "too_many": "Too many tries. Please try again later (within the hour), or ask the staff.",
        "too_many_pushes": (
            "You have asked for many M-Pesa prompts this hour. Please wait a while, or use a code."
        ),
        "phone_busy": (
            "Another M-Pesa request for this phone is still open; it ends within a few minutes. Meanwhile,"
            " you can pay with another number."
        ),
        "cannot_pay": "Payments can't be taken right now. Please ask the staff.",
        "resend_wait": "The last prompt is still open on your phone. A new one can be sent when it ends.",
        "waiting_answer": "Waiting for M-Pesa's answer…",
        "device_waiting": "A payment from this device is waiting",
        "device_waiting_detail": (
            "Enter your M-Pesa PIN on the phone that got the prompt. This page updates by itself: once the"
            " payment is in, you are online."
        ),
        "failed": "Payment not completed",
        "time_over": "Your time is over",
        "time_over_detail": "The time you bought has ended. Buy more to go on.",
        "moved": "Your time is on another device",
        "moved_detail": (
            "It was moved there with one of your codes. To go online here, buy a package or enter a code."
        ),
        "refunded": "Payment refunded",
        "refunded_detail": "The hotspot gave this payment back to you. Buy a package to go online.",
        "code_empty": "Enter the code.",
        "code_unknown": "That code is not right. Check it and try again.",
        "code_used_up": "That code has been used up, or its time is over.",
        "device_has_time": "This device already has time of its own.",
        "amount_too_small": "That payment is less than the price of any package. Please ask the staff.",
        "reconnected": "You're back online.",
        "minutes_left": "{minutes} min",
    },
    "sw": {
        "choose_package": "Chagua kifurushi",
        "phone_label": "Nambari ya simu ya M-Pesa",
        "phone_hint": "Simu itakayopokea ombi la M-Pesa, k.m. 0712 345 678",
        "pay": "Lipa kwa M-Pesa",
        "have_code": "Umeshalipa, au una vocha?",
        "have_code_link": "Weka nambari yako",
        "help": "Msaada",
        "other_language": "English",
        "not_a_customer_title": "Unganisha kwenye Wi-Fi kwanza",
        "not_a_customer": "Ukurasa huu hufunguka wenyewe unapojiunga na mtandao wa Wi-Fi wa hotspot.",
        "no_packages": "Hakuna vifurushi vinavyouzwa sasa hivi. Tafadhali uliza wahudumu.",
        "no_account": "Malipo bado hayajawekwa kwenye hotspot hii. Tafadhali uliza wahudumu.",
        "pick_package": "Chagua kifurushi kwanza.",
        "check_phone": "Angalia simu yako",
        "enter_pin": "Weka PIN yako ya M-Pesa kwenye {phone} kulipa KES {amount} kwa {name}.",
        "prompt_expires": "Ombi linaisha baada ya",
        "waiting_no_js": "Ukurasa huu unajisasisha wenyewe.",
        "cancel": "Ghairi",
        "resend": "Tuma ombi tena",
        "try_again": "Jaribu tena",
        "other_number": "Lipa kwa nambari nyingine",
        "connecting": "Umelipa. Tunakuunganisha…",
        "connecting_detail": "Malipo yako yamepokelewa ({receipt}). Tunaingiza kifaa chako.",
        "connecting_detail_no_receipt": "Malipo yako yamepokelewa. Tunaingiza kifaa chako.",
        "online": "Uko mtandaoni",
        "time_left": "Muda uliobaki",
        "expires_at": "Hadi",
        "access_code": "Msimbo wako wa kuingia",
        "access_code_hint": "Itunze: inakuunganisha tena kwenye kifaa kingine, au simu yako ikibadilika.",
        "continue": "Endelea kuvinjari",
        "codes_move_time": (
            "Umebadilisha simu? Kwenye kifaa kingine, weka msimbo wako wa kuingia, vocha, au msimbo wa"
            " risiti kutoka kwenye SMS yako ya M-Pesa: muda wako utahamia huko."
        ),
        "buy_more": "Nunua muda zaidi",
        "welcome_back": "Karibu tena",
        "enter_code": "Weka nambari yako",
        "code_label": "Nambari ya ufikiaji, risiti ya M-Pesa au vocha",
        "code_hint": "k.m. K7PM-Q2XR, au nambari ya risiti kwenye SMS ya M-Pesa, k.m. TJ3MX6CLYC",
        "use_code": "Unganisha",
        "pay_by_hand": "Au lipa kwa M-Pesa mwenyewe: {how}, kisha weka nambari ya risiti kutoka kwenye SMS.",
        "paybill_how": "Lipa na M-Pesa, Pay Bill {shortcode}, akaunti {account}",
        "till_how": "Lipa na M-Pesa, Buy Goods, till {till}",
        "too_many": (
            "Majaribio mengi mno. Tafadhali jaribu tena baadaye (ndani ya saa moja), au uliza wahudumu."
        ),
        "too_many_pushes": (
            "Umeomba maombi mengi ya M-Pesa saa hii. Tafadhali subiri kidogo, au tumia msimbo."
        ),
        "phone_busy": (
            "Kuna ombi lingine la M-Pesa kwa simu hii ambalo bado liko wazi; litaisha ndani ya dakika chache."
            " Kwa sasa, unaweza kulipa kwa nambari nyingine."
        ),
        "cannot_pay": "Malipo hayawezi kupokelewa sasa hivi. Tafadhali uliza wahudumu.",
        "resend_wait": "Ombi la mwisho bado liko wazi kwenye simu yako. Jipya linaweza kutumwa likiisha.",
        "waiting_answer": "Tunasubiri jibu la M-Pesa…",
        "device_waiting": "Malipo kutoka kifaa hiki yanasubiri",
        "device_waiting_detail": (
            "Weka PIN yako ya M-Pesa kwenye simu iliyopata ombi. Ukurasa huu unajisasisha wenyewe: malipo"
            " yakifika, utaunganishwa."
        ),
        "failed": "Malipo hayakukamilika",
        "time_over": "Muda wako umekwisha",
        "time_over_detail": "Muda ulionunua umekwisha. Nunua zaidi ili uendelee.",
        "moved": "Muda wako uko kwenye kifaa kingine",
        "moved_detail": (
            "Ulihamishwa huko kwa mojawapo ya misimbo yako. Ili uunganishwe hapa, nunua kifurushi au weka"
            " msimbo."
        ),
        "refunded": "Malipo yamerudishwa",
        "refunded_detail": "Hotspot imekurudishia malipo haya. Nunua kifurushi ili uunganishwe.",
        "code_empty": "Weka nambari.",
        "code_unknown": "Nambari hiyo si sahihi. Iangalie ujaribu tena.",
        "code_used_up": "Nambari hiyo imeshatumika, au muda wake umekwisha.",
        "device_has_time": "Kifaa hiki tayari kina muda wake.",
        "amount_too_small": (
            "Malipo hayo ni kidogo kuliko bei ya kifurushi chochote. Tafadhali uliza wahudumu."
        ),
        "reconnected": "Umerudi mtandaoni.",
        "minutes_left": "dakika {minutes}",
    },
}

UNITS = {
    "en": {"day": ("day", "days"), "hour": ("hour", "hours"), "minute": ("minute", "minutes")},
    "sw": {"day": ("siku", "siku"), "hour": ("saa", "saa"), "minute": ("dakika", "dakika")},
}


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else "en"


def say(lang: str, key: str, **values: object) -> str:
    return WORDS[lang][key].format(**values)


def duration(lang: str, seconds: int) -> str:
    """3600 → '1 hour' / 'saa 1'; 90 minutes → '1 hour 30 minutes'. Whole units only, largest first."""
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            singular, plural = UNITS[lang][unit]
            name = singular if count == 1 else plural
            parts.append(f"{count} {name}" if lang == "en" else f"{name} {count}")
    return " ".join(parts) or ("less than a minute" if lang == "en" else "chini ya dakika moja")


def data_size(size: int | None) -> str:
    """1_500_000_000 → '1.5 GB': a data cap as customers and owners read it, in either language."""
    if not size:
        return ""
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size:,} bytes"


def speed(lang: str, rate_limit: str) -> str:
    """RouterOS 'rx/tx' from the router's side, so tx is the customer's download: '1M/4M' → 'up to 4 Mbps'."""
    if not rate_limit:
        return ""
    download = rate_limit.split()[0].split("/")[-1]
    number, unit = download.rstrip("kKmMgG"), download[len(download.rstrip("kKmMgG")) :].upper()
    shown = (
        f"{number} {'Kbps' if unit == 'K' else 'Gbps' if unit == 'G' else 'Mbps' if unit == 'M' else 'bps'}"
    )
    return f"up to {shown}" if lang == "en" else f"hadi {shown}"


def money(amount: int) -> str:
    return f"KES {amount:,}"
