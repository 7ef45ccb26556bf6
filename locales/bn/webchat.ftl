## ওয়েব চ্যাট পেজ

web-title = Nexoraz: চ্যাটেই স্টুডিওর মতো ছবি
web-placeholder = মেসেজ লিখুন, অথবা পণ্যের ছবি পাঠান
web-send = পাঠান
web-photo = ছবি পাঠান
web-offline = সংযোগ বিচ্ছিন্ন হয়েছে। আবার চেষ্টা করছি…
web-you = আপনি
web-bot = Nexoraz
web-sending = পাঠানো হচ্ছে…
web-failed = পাঠানো যায়নি। আবার চেষ্টা করতে চাপুন
web-gallery = আমার ছবি
web-download-all = সব ডাউনলোড (zip)
web-close = চ্যাটে ফিরুন
web-gallery-empty = আপনার তৈরি ছবিগুলো এখানে দেখা যাবে। শুরু করতে পণ্যের একটি ছবি পাঠান।
web-other-lang = English
web-other-lang-code = en
web-upload-too-large = একসাথে অনেক বেশি পাঠানো হয়েছে: এক মেসেজে সর্বোচ্চ { $limit } MB ছবি নিতে পারি। অনুগ্রহ করে একবারে কম ছবি পাঠান।
web-upload-too-many-parts = এই মেসেজে অনেক বেশি অংশ ছিল: এক মেসেজে সর্বোচ্চ { $limit }টি ছবি নিতে পারি। অনুগ্রহ করে একবারে কম পাঠান।
web-cross-site = এই অনুরোধটি Nexoraz চ্যাট পেজ থেকে আসেনি, তাই কিছু করিনি। চ্যাট পেজ খুলে আবার চেষ্টা করুন।
